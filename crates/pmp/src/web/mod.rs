//! The pages above every feature: the home page, and the routes of the static files the page
//! kit (`ui`) embeds.

mod home;

use axum::routing::get;

use crate::http::access::{Access, Routes};
use crate::ui::assets;

/// Routes of the shell itself.
pub fn routes() -> Routes {
    Routes::new()
        .add("/", &["GET"], Access::Public, get(home::page))
        .add(
            "/static/{file}",
            &["GET"],
            Access::Public,
            get(assets::serve),
        )
}
