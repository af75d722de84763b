//! The `pmp backup` and `pmp restore` commands: the configuration's database and data key,
//! the snapshot of `archive`, and the file, written readable by its owner only and never
//! over an existing one. Both leave an entry in the audit trail; a restore's entry continues
//! the restored chain, so `pmp audit verify` passes on the restored install.

mod archive;

use std::path::Path;

use crate::app::portal::{StartError, open_database};
use crate::audit::events::{self, Kind, Subject};
use crate::config::Config;
use crate::http::Client;
use crate::secrets::Keys;
use archive::Summary;

fn refused(e: impl std::fmt::Display) -> StartError {
    StartError::Refused(e.to_string())
}

/// Writes a sealed snapshot of the database to `path` (which must not exist yet).
pub async fn to_file(config: &Config, path: &Path) -> Result<Summary, StartError> {
    if path.exists() {
        return Err(refused(format!(
            "{} already exists; choose a new file name",
            path.display()
        )));
    }
    let keys = Keys::load(config)?;
    let db = open_database(config).await?;
    let result = archive::backup(&db, &keys).await;
    let outcome = match result {
        Ok((text, summary)) => crate::secrets::write_private(path, &text)
            .map(|()| summary)
            .map_err(|e| refused(format!("cannot write {}: {e}", path.display()))),
        Err(e) => Err(refused(e)),
    };
    if let Ok(summary) = &outcome {
        let detail = format!("{} rows of {} tables", summary.rows, summary.tables);
        let subject = Subject::default();
        events::record(
            &db,
            Kind::BackupCreated,
            subject,
            &Client::cli("backup"),
            &detail,
        )
        .await?;
    }
    db.close().await;
    outcome
}

/// Restores the backup at `path` onto this configuration's fresh database.
pub async fn from_file(config: &Config, path: &Path) -> Result<Summary, StartError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| refused(format!("cannot read {}: {e}", path.display())))?;
    let keys = Keys::load(config)?;
    let db = open_database(config).await?;
    let outcome = archive::restore(&db, &keys, &text).await.map_err(refused);
    if let Ok(summary) = &outcome {
        let detail = format!(
            "{} rows of {} tables restored",
            summary.rows, summary.tables
        );
        let subject = Subject::default();
        events::record(
            &db,
            Kind::BackupRestored,
            subject,
            &Client::cli("restore"),
            &detail,
        )
        .await?;
    }
    db.close().await;
    outcome
}
