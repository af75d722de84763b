//! The `roles`, `user_groups`, `group_members` and `acl` tables: loading a principal's grants
//! (their own entries and their groups', in one query), and seeding the built-in roles from
//! the code's definition at every start.

use crate::access::grants::{Grant, Grants, Scope};
use crate::access::path::AclPath;
use crate::access::privilege::{BUILTIN_ROLES, PrivSet};
use crate::db::{Db, DbError};
use crate::with_pool;

/// The id of the built-in role that holds every privilege.
pub const ADMINISTRATOR: &str = "administrator";

/// Rewrites the built-in roles' names and privileges from `BUILTIN_ROLES`.
pub async fn seed_builtin_roles(db: &Db) -> Result<(), DbError> {
    const SQL: &str = "INSERT INTO roles (id, name, builtin, privileges, created_at) \
        VALUES ($1, $2, TRUE, $3, 0) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
        builtin = TRUE, privileges = excluded.privileges";
    for role in BUILTIN_ROLES {
        let privileges = PrivSet::of(role.privileges).to_list();
        with_pool!(db, pool => sqlx::query(SQL).bind(role.id).bind(role.name).bind(&privileges).execute(pool).await?.rows_affected());
    }
    Ok(())
}

type Row = (String, String, bool, String, String, Option<String>);

/// Everything granted to `user_id`, directly or through a group. Entries whose stored path or
/// privileges no longer parse are skipped (and logged), never widened.
pub async fn grants_of(db: &Db, user_id: &str) -> Result<Grants, DbError> {
    const SQL: &str = "SELECT a.id, a.path, a.propagate, a.role_id, r.privileges, g.name \
        FROM acl a JOIN roles r ON r.id = a.role_id \
        LEFT JOIN user_groups g ON g.id = a.group_id \
        WHERE a.user_id = $1 \
           OR a.group_id IN (SELECT group_id FROM group_members WHERE user_id = $1)";
    let rows: Vec<Row> =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await?);
    let entries = rows
        .into_iter()
        .filter_map(
            |(entry_id, path, propagate, role_id, privileges, via_group)| match (
                AclPath::parse(&path),
                PrivSet::parse_list(&privileges),
            ) {
                (Ok(path), Ok(privileges)) => Some(Grant {
                    entry_id,
                    path,
                    propagate,
                    role_id,
                    privileges,
                    via_group,
                }),
                _ => {
                    tracing::error!(%entry_id, "ACL entry with an unreadable path or role ignored");
                    None
                }
            },
        )
        .collect();
    Ok(Grants::new(entries))
}

/// The scope of a token given its stored role and path: none when unscoped. A scope that no
/// longer reads (a role edited into nonsense) allows nothing rather than everything.
pub async fn token_scope(
    db: &Db,
    role_id: Option<&str>,
    path: Option<&str>,
) -> Result<Option<Scope>, DbError> {
    const SQL: &str = "SELECT privileges FROM roles WHERE id = $1";
    let (Some(role_id), Some(path)) = (role_id, path) else {
        return Ok(None);
    };
    let privileges: Option<String> =
        with_pool!(db, pool => sqlx::query_scalar(SQL).bind(role_id).fetch_optional(pool).await?);
    let privileges = privileges.and_then(|p| PrivSet::parse_list(&p).ok());
    Ok(Some(match (privileges, AclPath::parse(path)) {
        (Some(privileges), Ok(path)) => Scope { privileges, path },
        _ => Scope {
            privileges: PrivSet::EMPTY,
            path: AclPath::Root,
        },
    }))
}

/// Grants `role_id` on `/` (propagating) to `user_id`, or takes it away; used for the
/// Administrator shorthand of user administration. Runs inside the caller's transaction.
pub const GRANT_ROOT: &str = "INSERT INTO acl (id, user_id, group_id, path, role_id, propagate, created_at) \
    VALUES ($1, $2, NULL, '/', $3, TRUE, $4) ON CONFLICT DO NOTHING";
/// See `GRANT_ROOT`.
pub const REVOKE_ROOT: &str = "DELETE FROM acl WHERE user_id = $1 AND path = '/' AND role_id = $2";
