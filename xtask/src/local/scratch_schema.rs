//! A PostgreSQL schema of its own for one run (a benchmark, the contract check), so it neither
//! sees nor leaves data in the database's others.

use anyhow::Context as _;
use xshell::{Shell, cmd};

use crate::project::random_hex;

pub struct ScratchSchema {
    admin_url: String,
    name: String,
    /// The database's URL with the schema as its search path: what the services are given.
    pub url: String,
}

impl ScratchSchema {
    pub fn create(sh: &Shell, admin_url: &str) -> anyhow::Result<Self> {
        which::which("psql").context("this needs psql (PostgreSQL's client) to create its schema")?;
        let name = format!("scratch_{}", random_hex(6));
        let sql = format!("CREATE SCHEMA {name}");
        cmd!(sh, "psql {admin_url} -v ON_ERROR_STOP=1 -qc {sql}")
            .quiet()
            .run()
            .with_context(|| format!("cannot reach PostgreSQL at {admin_url} (pass --postgres URL)"))?;
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options[search_path]={name}");
        Ok(ScratchSchema {
            admin_url: admin_url.to_string(),
            name,
            url,
        })
    }

    /// Does to the tables of `tables`, in the schema a URL made by [`ScratchSchema::create`]
    /// names, what autovacuum does within a minute or two of thousands of inserts (since
    /// PostgreSQL 13 inserts alone set it off): `VACUUM ANALYZE`. A URL without a schema
    /// (SQLite's) is left alone. A benchmark that loads thousands of rows and reads at once would
    /// otherwise measure plans made for an empty table, and rows no reader has yet marked as
    /// committed for all (the first to read each pays for writing that down), where a running
    /// database has long since done both.
    pub fn vacuum_analyze(sh: &Shell, url: &str, tables: &[&str]) -> anyhow::Result<()> {
        let Some((admin_url, name)) = url.split_once("options[search_path]=") else {
            return Ok(());
        };
        let admin_url = admin_url.trim_end_matches(['?', '&']);
        let tables: Vec<String> = tables.iter().map(|table| format!("{name}.{table}")).collect();
        let sql = format!("VACUUM (ANALYZE) {}", tables.join(", "));
        cmd!(sh, "psql {admin_url} -v ON_ERROR_STOP=1 -qc {sql}")
            .quiet()
            .run()
            .with_context(|| format!("cannot analyse the tables of schema {name}"))
    }

    pub fn drop(self, sh: &Shell) {
        let (admin_url, sql) = (
            self.admin_url,
            format!("SET client_min_messages = warning; DROP SCHEMA {} CASCADE", self.name),
        );
        let _ = cmd!(sh, "psql {admin_url} -qc {sql}").quiet().ignore_stdout().run();
    }
}
