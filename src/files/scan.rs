//! Virus scanning with clamd over its socket (docs/files.md, "Virus scanning"): each spooled
//! file is streamed with `zINSTREAM` in pieces and clamd answers `stream: OK` or
//! `stream: NAME FOUND`.

use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// clamd's verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    Clean,
    /// The signature's name.
    Infected(String),
    /// clamd was down, slow, or answered something else; why.
    Unreachable(String),
}

/// Each piece sent; clamd's `StreamMaxLength` bounds the total (25 MB by default).
const PIECE: usize = 64 * 1024;

/// Scans the file at `path` with clamd at `address`, within `timeout`.
pub async fn scan(address: &str, path: &Path, timeout: Duration) -> Scan {
    match tokio::time::timeout(timeout, instream(address, path)).await {
        Ok(Ok(reply)) => verdict(&reply),
        Ok(Err(e)) => Scan::Unreachable(format!("clamd at {address}: {e}")),
        Err(_) => Scan::Unreachable(format!("clamd at {address} did not answer in {timeout:?}")),
    }
}

async fn instream(address: &str, path: &Path) -> std::io::Result<String> {
    let mut socket = tokio::net::TcpStream::connect(address).await?;
    let mut file = tokio::fs::File::open(path).await?;
    socket.write_all(b"zINSTREAM\0").await?;
    let mut buffer = vec![0; PIECE];
    loop {
        let read = file.read(&mut buffer).await?;
        socket.write_all(&(read as u32).to_be_bytes()).await?;
        if read == 0 {
            break;
        }
        socket.write_all(&buffer[..read]).await?;
    }
    let mut reply = Vec::new();
    socket.read_to_end(&mut reply).await?;
    Ok(String::from_utf8_lossy(&reply)
        .trim_end_matches(['\0', '\n'])
        .to_owned())
}

fn verdict(reply: &str) -> Scan {
    let answer = reply.strip_prefix("stream: ").unwrap_or(reply);
    if answer == "OK" {
        return Scan::Clean;
    }
    match answer.strip_suffix(" FOUND") {
        Some(name) => Scan::Infected(name.to_owned()),
        None => Scan::Unreachable(format!(
            "clamd answered `{}`",
            answer.chars().take(120).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(verdict("stream: OK"), Scan::Clean);
        assert_eq!(
            verdict("stream: Eicar-Test-Signature FOUND"),
            Scan::Infected("Eicar-Test-Signature".to_owned())
        );
        assert!(matches!(
            verdict("INSTREAM size limit exceeded. ERROR"),
            Scan::Unreachable(_)
        ));
    }
}
