//! The pages above every feature: the home page, and the routes of the static files the page
//! kit (`ui`) embeds.

mod home;

use axum::routing::get;

use crate::access::routes::{Access, Routes};
use crate::db::Db;
use crate::ui::assets;
use axum::extract::FromRef;

/// Routes of the shell itself.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
    crate::identity::IdentityState: FromRef<S>,
{
    Routes::new()
        .add("/", &["GET"], Access::Public, get(home::page))
        .add(
            "/static/{file}",
            &["GET"],
            Access::Public,
            get(assets::serve),
        )
}
