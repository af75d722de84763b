//! Anomaly detection over the audit trail: each new entry is looked at against the entries
//! before it (bursts of failed sign-ins per account and per address, lockouts, a sign-in from
//! a new network or at an unusual hour, refresh-token reuse, bursts of refusals, mass actions).
//! It runs right after the entry is stored, so the alert is there before the answer is sent.

use std::net::IpAddr;

use crate::alerts::rules::Rule;
use crate::alerts::{notify, store};
use crate::audit::Entry;
use crate::db::{Db, DbError};
use crate::with_pool;

/// The network an address belongs to, for "never seen from here": /24 for IPv4, /64 for IPv6.
fn network(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => network(&v4.to_string()),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => ip.to_owned(),
    }
}

/// Hours apart on the clock face (0 to 12).
fn hours_apart(a: i64, b: i64) -> i64 {
    let d = (a - b).rem_euclid(24);
    d.min(24 - d)
}

async fn count(db: &Db, sql: &'static str, key: &str, since: i64) -> Result<i64, DbError> {
    Ok(with_pool!(db, pool => sqlx::query_scalar(sql).bind(key).bind(since).fetch_one(pool).await?))
}

async fn raise(
    db: &Db,
    rule: Rule,
    subject: &str,
    title: String,
    detail: String,
) -> Result<(), DbError> {
    notify::raise(db, rule, subject, &title, &detail).await
}

/// Has the audit trail show these rules every entry it stores, in this process.
pub fn watch_the_trail() {
    crate::audit::events::watch(|db, id, entry| Box::pin(observe(db, id, entry)));
}

/// Looks at entry `id` (just stored) and raises what it shows.
pub async fn observe(db: &Db, id: i64, e: &Entry<'_>) -> Result<(), DbError> {
    let rule = match e.kind {
        "login.failed" => Rule::LoginFailuresAccount,
        "login.locked" => Rule::Lockout,
        "login.succeeded" => Rule::NewNetwork,
        "api.refresh_reused" => Rule::RefreshReuse,
        "access.denied" => Rule::DenialBurst,
        "guest.action" => Rule::MassAction,
        _ => return Ok(()),
    };
    let user = e.username.unwrap_or("");
    match rule {
        Rule::LoginFailuresAccount => {
            failures(db, e, user).await?;
        }
        Rule::Lockout | Rule::RefreshReuse => {
            if store::settings(db, rule).await?.enabled {
                let subject = if user.is_empty() { e.ip } else { user };
                let title = match rule {
                    Rule::Lockout => format!("Sign-in locked for {subject}"),
                    _ => format!("A spent refresh token of {subject} was used again"),
                };
                raise(
                    db,
                    rule,
                    subject,
                    title,
                    format!("{} from {}", e.detail, e.ip),
                )
                .await?;
            }
        }
        Rule::NewNetwork => sign_in(db, id, e, user).await?,
        _ => {
            let s = store::settings(db, rule).await?;
            let Some(user_id) = e.user_id.filter(|_| s.enabled) else {
                return Ok(());
            };
            const SQL: &str = "SELECT COUNT(*) FROM security_events WHERE user_id = $1 AND kind = $3 AND at >= $2";
            let n: i64 = with_pool!(db, pool => sqlx::query_scalar(SQL).bind(user_id)
                .bind(e.at - s.window_secs).bind(e.kind).fetch_one(pool).await?);
            if n >= s.threshold {
                let what = if rule == Rule::DenialBurst {
                    "refused requests"
                } else {
                    "guest actions"
                };
                let title = format!("{n} {what} by {user} within {} s", s.window_secs);
                raise(
                    db,
                    rule,
                    user,
                    title,
                    format!("latest: {} from {}", e.detail, e.ip),
                )
                .await?;
            }
        }
    }
    Ok(())
}

async fn failures(db: &Db, e: &Entry<'_>, user: &str) -> Result<(), DbError> {
    const BY_USER: &str = "SELECT COUNT(*) FROM security_events WHERE kind = 'login.failed' AND username = $1 AND at >= $2";
    const BY_IP: &str =
        "SELECT COUNT(*) FROM security_events WHERE kind = 'login.failed' AND ip = $1 AND at >= $2";
    let account = store::settings(db, Rule::LoginFailuresAccount).await?;
    if account.enabled && !user.is_empty() {
        let n = count(db, BY_USER, user, e.at - account.window_secs).await?;
        if n >= account.threshold {
            let title = format!("{n} failed sign-ins for {user}");
            raise(
                db,
                Rule::LoginFailuresAccount,
                user,
                title,
                format!("latest from {}", e.ip),
            )
            .await?;
        }
    }
    let address = store::settings(db, Rule::LoginFailuresAddress).await?;
    if address.enabled {
        let n = count(db, BY_IP, e.ip, e.at - address.window_secs).await?;
        if n >= address.threshold {
            let title = format!("{n} failed sign-ins from {}", e.ip);
            raise(
                db,
                Rule::LoginFailuresAddress,
                e.ip,
                title,
                format!("latest for {user}"),
            )
            .await?;
        }
    }
    Ok(())
}

/// A successful sign-in: a network or an hour of day the account never used before.
async fn sign_in(db: &Db, id: i64, e: &Entry<'_>, user: &str) -> Result<(), DbError> {
    const EARLIER: &str = "SELECT ip, at FROM security_events WHERE kind = 'login.succeeded' \
        AND user_id = $1 AND id < $2 AND at >= $3 ORDER BY id DESC LIMIT 1000";
    let Some(user_id) = e.user_id else {
        return Ok(());
    };
    let new_network = store::settings(db, Rule::NewNetwork).await?;
    let unusual = store::settings(db, Rule::UnusualHour).await?;
    let lookback = new_network.window_secs.max(unusual.window_secs);
    let earlier: Vec<(String, i64)> = with_pool!(db, pool => sqlx::query_as(EARLIER)
        .bind(user_id).bind(id).bind(e.at - lookback).fetch_all(pool).await?);
    let enough = |s: &crate::alerts::rules::Settings| {
        s.enabled
            && earlier
                .iter()
                .filter(|(_, at)| *at >= e.at - s.window_secs)
                .count() as i64
                >= s.threshold
    };
    let here = network(e.ip);
    if enough(&new_network) && earlier.iter().all(|(ip, _)| network(ip) != here) {
        let subject = format!("{user} {here}");
        let title = format!("{user} signed in from a new network, {here}");
        raise(
            db,
            Rule::NewNetwork,
            &subject,
            title,
            format!("address {}", e.ip),
        )
        .await?;
    }
    let hour = e.at.rem_euclid(86_400) / 3_600;
    if enough(&unusual)
        && earlier
            .iter()
            .all(|(_, at)| hours_apart(at.rem_euclid(86_400) / 3_600, hour) > 1)
    {
        let subject = format!("{user} {hour:02}h");
        let title = format!("{user} signed in at an unusual hour, {hour:02}:00 UTC");
        raise(
            db,
            Rule::UnusualHour,
            &subject,
            title,
            format!("from {}", e.ip),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{hours_apart, network};

    #[test]
    fn networks_and_hours() {
        assert_eq!(network("203.0.113.9"), "203.0.113.0/24");
        assert_eq!(network("::ffff:203.0.113.9"), "203.0.113.0/24");
        assert_eq!(network("2001:db8:1:2:3::4"), "2001:db8:1:2::/64");
        assert_eq!(hours_apart(23, 1), 2);
        assert_eq!(hours_apart(3, 15), 12);
        assert_eq!(hours_apart(7, 7), 0);
    }
}
