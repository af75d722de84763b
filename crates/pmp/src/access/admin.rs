//! Managing who may do what: custom roles, groups and their members, ACL entries. Built-in
//! roles are read-only. Every function validates its input fully before writing anything.

use serde::Serialize;

use crate::access::path::AclPath;
use crate::access::privilege::PrivSet;
use crate::db::now;
use crate::db::{Db, DbError};
use crate::with_pool;

/// Why a change to roles, groups or ACL entries was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("a name is 1 to 64 printable characters")]
    Name,
    #[error("{0}")]
    Privileges(String),
    #[error("built-in roles cannot be changed or deleted")]
    Builtin,
    #[error("that name is taken")]
    Taken,
    #[error("there is no such {0}")]
    Missing(&'static str),
    #[error("{0}")]
    Path(String),
    #[error("the last enabled administrator's Administrator role on / cannot be removed")]
    LastAdmin,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => Self::Taken,
            _ => Self::Db(e.into()),
        }
    }
}

/// A role as listed.
#[derive(Debug, Clone, Serialize)]
pub struct Role {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Built in (read-only).
    pub builtin: bool,
    /// Privilege names.
    pub privileges: Vec<&'static str>,
}

/// A group as listed, with its members' usernames.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Members' usernames.
    pub members: Vec<String>,
}

/// An ACL entry as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Entry {
    /// Stable id.
    pub id: String,
    /// The user it is set for, if any.
    pub user_id: Option<String>,
    /// Their username.
    pub username: Option<String>,
    /// The group it is set for, if any.
    pub group_id: Option<String>,
    /// Its name.
    pub group_name: Option<String>,
    /// Where.
    pub path: String,
    /// Which role.
    pub role_id: String,
    /// Whether it reaches below `path`.
    pub propagate: bool,
}

/// For whom an ACL entry is set.
#[derive(Debug, Clone, Copy)]
pub enum Principal<'a> {
    /// A user, by id.
    User(&'a str),
    /// A group, by id.
    Group(&'a str),
}

fn check_name(raw: &str) -> Result<String, AdminError> {
    crate::ids::printable_name(raw, 64).ok_or(AdminError::Name)
}

/// Every role, built-in first.
pub async fn roles(db: &Db) -> Result<Vec<Role>, DbError> {
    const SQL: &str = "SELECT id, name, builtin, privileges FROM roles ORDER BY builtin DESC, name";
    let rows: Vec<(String, String, bool, String)> =
        with_pool!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
    Ok(rows
        .into_iter()
        .map(|(id, name, builtin, privileges)| Role {
            id,
            name,
            builtin,
            privileges: PrivSet::parse_list(&privileges)
                .unwrap_or_default()
                .iter()
                .map(|p| p.as_str())
                .collect(),
        })
        .collect())
}

/// Creates a custom role; returns its id.
pub async fn create_role(db: &Db, name: &str, privileges: &str) -> Result<String, AdminError> {
    const SQL: &str = "INSERT INTO roles (id, name, builtin, privileges, created_at) VALUES ($1, $2, FALSE, $3, $4)";
    let name = check_name(name)?;
    let privileges = PrivSet::parse_list(privileges).map_err(AdminError::Privileges)?;
    let id = uuid::Uuid::new_v4().to_string();
    with_pool!(db, pool => sqlx::query(SQL).bind(&id).bind(&name).bind(privileges.to_list()).bind(now()).execute(pool).await?.rows_affected());
    Ok(id)
}

/// Replaces a custom role's name and privileges (everyone holding it is affected at once).
pub async fn update_role(
    db: &Db,
    id: &str,
    name: &str,
    privileges: &str,
) -> Result<(), AdminError> {
    const SQL: &str =
        "UPDATE roles SET name = $2, privileges = $3 WHERE id = $1 AND builtin = FALSE";
    let name = check_name(name)?;
    let privileges = PrivSet::parse_list(privileges).map_err(AdminError::Privileges)?;
    let n = with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(&name).bind(privileges.to_list()).execute(pool).await?.rows_affected());
    builtin_or_missing(db, id, n).await
}

/// Deletes a custom role and every ACL entry and token scope using it.
pub async fn delete_role(db: &Db, id: &str) -> Result<(), AdminError> {
    const SQL: &str = "DELETE FROM roles WHERE id = $1 AND builtin = FALSE";
    let n = with_pool!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await?.rows_affected());
    builtin_or_missing(db, id, n).await
}

async fn builtin_or_missing(db: &Db, id: &str, changed: u64) -> Result<(), AdminError> {
    const SQL: &str = "SELECT COUNT(*) FROM roles WHERE id = $1";
    if changed == 1 {
        return Ok(());
    }
    let exists: i64 = with_pool!(db, pool => sqlx::query_scalar(SQL).bind(id).fetch_one(pool).await.map_err(DbError::from)?);
    Err(if exists > 0 {
        AdminError::Builtin
    } else {
        AdminError::Missing("role")
    })
}

/// Every group with its members.
pub async fn groups(db: &Db) -> Result<Vec<Group>, DbError> {
    const GROUPS: &str = "SELECT id, name FROM user_groups ORDER BY name";
    const MEMBERS: &str = "SELECT m.group_id, u.username FROM group_members m JOIN users u ON u.id = m.user_id ORDER BY u.username";
    let groups: Vec<(String, String)> =
        with_pool!(db, pool => sqlx::query_as(GROUPS).fetch_all(pool).await?);
    let members: Vec<(String, String)> =
        with_pool!(db, pool => sqlx::query_as(MEMBERS).fetch_all(pool).await?);
    Ok(groups
        .into_iter()
        .map(|(id, name)| Group {
            members: members
                .iter()
                .filter(|(g, _)| *g == id)
                .map(|(_, u)| u.clone())
                .collect(),
            id,
            name,
        })
        .collect())
}

/// Creates a group; returns its id.
pub async fn create_group(db: &Db, name: &str) -> Result<String, AdminError> {
    const SQL: &str = "INSERT INTO user_groups (id, name, created_at) VALUES ($1, $2, $3)";
    let name = check_name(name)?;
    let id = uuid::Uuid::new_v4().to_string();
    with_pool!(db, pool => sqlx::query(SQL).bind(&id).bind(&name).bind(now()).execute(pool).await?.rows_affected());
    Ok(id)
}

/// Deletes a group (its members lose what it granted, on their next request).
pub async fn delete_group(db: &Db, id: &str) -> Result<(), AdminError> {
    const SQL: &str = "DELETE FROM user_groups WHERE id = $1";
    let n = with_pool!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await?.rows_affected());
    if n == 1 {
        Ok(())
    } else {
        Err(AdminError::Missing("group"))
    }
}

/// Adds or removes a member.
pub async fn set_member(
    db: &Db,
    group_id: &str,
    user_id: &str,
    member: bool,
) -> Result<(), AdminError> {
    const ADD: &str = "INSERT INTO group_members (group_id, user_id) \
        SELECT g.id, u.id FROM user_groups g, users u WHERE g.id = $1 AND u.id = $2 \
        ON CONFLICT DO NOTHING";
    const EXISTS: &str = "SELECT (SELECT COUNT(*) FROM user_groups WHERE id = $1) + (SELECT COUNT(*) FROM users WHERE id = $2)";
    const REMOVE: &str = "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2";
    let found: i64 = with_pool!(db, pool => sqlx::query_scalar(EXISTS).bind(group_id).bind(user_id).fetch_one(pool).await.map_err(DbError::from)?);
    if found != 2 {
        return Err(AdminError::Missing("group or user"));
    }
    let sql = if member { ADD } else { REMOVE };
    with_pool!(db, pool => sqlx::query(sql).bind(group_id).bind(user_id).execute(pool).await?.rows_affected());
    Ok(())
}

/// Every ACL entry, by path.
pub async fn entries(db: &Db) -> Result<Vec<Entry>, DbError> {
    const SQL: &str = "SELECT a.id, a.user_id, u.username, a.group_id, g.name AS group_name, a.path, \
        a.role_id, a.propagate FROM acl a LEFT JOIN users u ON u.id = a.user_id \
        LEFT JOIN user_groups g ON g.id = a.group_id ORDER BY a.path, a.id";
    Ok(with_pool!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?))
}

/// Grants `role_id` on `path` to `principal`; returns the entry's id.
pub async fn add_entry(
    db: &Db,
    principal: Principal<'_>,
    path: &str,
    role_id: &str,
    propagate: bool,
) -> Result<String, AdminError> {
    const SQL: &str = "INSERT INTO acl (id, user_id, group_id, path, role_id, propagate, created_at) \
        SELECT $1, $2, $3, $4, r.id, $5, $6 FROM roles r WHERE r.id = $7 \
        AND ($2 IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = $2)) \
        AND ($3 IS NULL OR EXISTS (SELECT 1 FROM user_groups WHERE id = $3))";
    let path = AclPath::parse(path).map_err(|e| AdminError::Path(e.to_string()))?;
    let (user, group) = match principal {
        Principal::User(id) => (Some(id), None),
        Principal::Group(id) => (None, Some(id)),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let n = with_pool!(db, pool => sqlx::query(SQL)
        .bind(&id)
        .bind(user)
        .bind(group)
        .bind(path.to_string())
        .bind(propagate)
        .bind(now())
        .bind(role_id)
        .execute(pool)
        .await?
        .rows_affected());
    if n == 1 {
        Ok(id)
    } else {
        Err(AdminError::Missing("role, user or group"))
    }
}

/// Removes an ACL entry, unless it is the last enabled administrator's Administrator role
/// on `/` (which would leave nobody able to manage the portal).
pub async fn remove_entry(db: &Db, id: &str) -> Result<(), AdminError> {
    const LAST_ADMIN: &str = "SELECT COUNT(*) FROM acl a WHERE a.id = $1 AND a.path = '/' \
        AND a.role_id = 'administrator' AND a.user_id IS NOT NULL AND NOT EXISTS ( \
          SELECT 1 FROM acl b JOIN users u ON u.id = b.user_id WHERE b.id <> a.id \
          AND b.path = '/' AND b.role_id = 'administrator' AND u.disabled = FALSE)";
    const SQL: &str = "DELETE FROM acl WHERE id = $1";
    let last: i64 = with_pool!(db, pool => sqlx::query_scalar(LAST_ADMIN).bind(id).fetch_one(pool).await.map_err(DbError::from)?);
    if last > 0 {
        return Err(AdminError::LastAdmin);
    }
    let n = with_pool!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await?.rows_affected());
    if n == 1 {
        Ok(())
    } else {
        Err(AdminError::Missing("ACL entry"))
    }
}
