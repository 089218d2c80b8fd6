//! docs/deploy.md: the Debian package's files and build facts (`package`), and the reverse
//! proxy snippets of `docs/deploy/` run for real, nginx and Caddy in front of the relay
//! (`proxies`). The package's install itself is tried by `.ci/run` (`deploy/test-install`).

mod package;
mod proxies;
