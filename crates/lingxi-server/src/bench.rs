//! Load generators (`lingxi bench …`).
use crate::config::Config;

#[derive(clap::Subcommand)]
pub enum BenchCmd {
    /// Placeholder.
    Ingest,
}

pub async fn run(_cmd: BenchCmd, _config: &Config) -> anyhow::Result<()> {
    Ok(())
}
