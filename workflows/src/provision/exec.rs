//! Running programs inside a sandbox container (the engine's exec API, like `docker exec`)
//! and copying files into it (a tar archive through the archive API).

use bollard::container::{LogOutput, UploadToContainerOptions};
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::Docker;
use futures::StreamExt;

use super::engine::classify;
use crate::StepError;

/// What an exec printed and how it ended.
#[derive(Debug)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    /// The last lines of stderr (then stdout), for an error message.
    pub fn tail(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        last_lines(text)
    }

    /// The last lines of stderr only (for programs whose stdout may carry a secret).
    pub fn stderr_tail(&self) -> String {
        last_lines(&self.stderr)
    }
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join(" | ")
}

/// Runs `cmd` in `container` as `user` with extra `env` (`NAME=value`; values may be secret:
/// they are never logged here), collecting its output.
pub async fn run(
    docker: &Docker,
    container: &str,
    user: &str,
    cmd: &[&str],
    env: Vec<String>,
) -> Result<ExecOutput, StepError> {
    let what = format!("running {} in {container}", cmd.first().unwrap_or(&"?"));
    let exec = create(docker, container, user, cmd, env, true, &what).await?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    match docker
        .start_exec(&exec, None)
        .await
        .map_err(|e| classify(e, &what))?
    {
        StartExecResults::Attached { mut output, .. } => {
            while let Some(chunk) = output.next().await {
                match chunk.map_err(|e| classify(e, &what))? {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        stdout.extend_from_slice(&message)
                    }
                    LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
                    LogOutput::StdIn { .. } => {}
                }
            }
        }
        StartExecResults::Detached => {
            return Err(StepError::Permanent(format!("{what}: exec detached")));
        }
    }
    let inspect = docker
        .inspect_exec(&exec)
        .await
        .map_err(|e| classify(e, &what))?;
    Ok(ExecOutput {
        exit_code: inspect.exit_code.unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Starts `cmd` in `container` as `user` and returns at once, without waiting for it or
/// reading its output (work that may finish after the step, e.g. thumbnails). It dies with
/// the container.
pub async fn spawn_detached(
    docker: &Docker,
    container: &str,
    user: &str,
    cmd: &[&str],
    env: Vec<String>,
) -> Result<(), StepError> {
    let what = format!("starting {} in {container}", cmd.first().unwrap_or(&"?"));
    let exec = create(docker, container, user, cmd, env, false, &what).await?;
    docker
        .start_exec(
            &exec,
            Some(bollard::exec::StartExecOptions {
                detach: true,
                ..Default::default()
            }),
        )
        .await
        .map_err(|e| classify(e, &what))?;
    Ok(())
}

/// Creates the exec (not started yet); returns its id. `attach` collects its output.
async fn create(
    docker: &Docker,
    container: &str,
    user: &str,
    cmd: &[&str],
    env: Vec<String>,
    attach: bool,
    what: &str,
) -> Result<String, StepError> {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                env: Some(env),
                user: Some(user.to_string()),
                attach_stdout: Some(attach),
                attach_stderr: Some(attach),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| classify(e, what))?;
    Ok(exec.id)
}

/// A tar archive being assembled in memory for [`upload`]. Entries are owned by `uid:gid`.
pub struct Archive {
    builder: tar::Builder<Vec<u8>>,
    uid: u64,
    gid: u64,
}

impl Archive {
    pub fn new(uid: u64, gid: u64) -> Archive {
        Archive {
            builder: tar::Builder::new(Vec::new()),
            uid,
            gid,
        }
    }

    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_uid(self.uid);
        header.set_gid(self.gid);
        header.set_mtime(0);
        header
    }

    /// A directory entry (parents are not implied: add them first).
    pub fn dir(&mut self, path: &str) -> std::io::Result<()> {
        let mut header = self.header(tar::EntryType::Directory, 0o755, 0);
        self.builder
            .append_data(&mut header, format!("{path}/"), std::io::empty())
    }

    /// A regular file with `bytes`.
    pub fn file(&mut self, path: &str, bytes: &[u8], mode: u32) -> std::io::Result<()> {
        let mut header = self.header(tar::EntryType::Regular, mode, bytes.len() as u64);
        self.builder.append_data(&mut header, path, bytes)
    }

    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        self.builder.into_inner()
    }
}

/// Unpacks a tar archive into `dir` of `container` (which must exist there).
pub async fn upload(
    docker: &Docker,
    container: &str,
    dir: &str,
    archive: Vec<u8>,
) -> Result<(), StepError> {
    docker
        .upload_to_container(
            container,
            Some(UploadToContainerOptions {
                path: dir.to_string(),
                ..Default::default()
            }),
            bytes::Bytes::from(archive),
        )
        .await
        .map_err(|e| classify(e, &format!("copying files into {container}:{dir}")))
}
