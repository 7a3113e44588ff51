//! One Python worker process and the framed protocol spoken with it over a Unix socket.
//!
//! Frames are `tag:u8 length:u32le payload`; the payloads are documented in
//! `python/ember_udf_worker.py`. Arguments and results are Arrow IPC streams of one batch.

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{Result, UdfError};
use crate::function::PythonFunction;
use crate::interrupt::{Interrupt, POLL};
use crate::config::PoolConfig;

/// Lines of a worker's stderr kept to explain its death.
const STDERR_TAIL: usize = 30;
/// How long a new worker may take to import pyarrow and connect.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A live worker process.
pub struct Worker {
    child: Child,
    stream: UnixStream,
    /// Functions this worker has loaded (by definition id).
    defined: HashSet<u64>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("pid", &self.child.id()).finish()
    }
}

impl Worker {
    /// Start a worker and wait for its hello.
    pub fn spawn(config: &PoolConfig, script: &Path, serial: u64) -> Result<Worker> {
        let socket_path = config.socket_dir.join(format!("udf-{}-{serial}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket_path);
        let listener = UnixListener::bind(&socket_path)
            .map_err(|e| UdfError::Spawn { message: format!("cannot listen on {}: {e}", socket_path.display()) })?;
        let spawned = Command::new(&config.python)
            .arg("-u")
            .arg(script)
            .arg(&socket_path)
            .arg(config.memory_limit.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_file(&socket_path);
                return Err(UdfError::Spawn {
                    message: format!("cannot run {}: {e} (set --python / EMBER_PYTHON to a Python with pyarrow)", config.python.display()),
                });
            }
        };
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = child.stderr.take() {
            let tail = stderr_tail.clone();
            let pid = child.id();
            std::thread::Builder::new().name(format!("udf-worker-{pid}-stderr")).spawn(move || forward_stderr(pid, stderr, tail))?;
        }
        let accepted = accept(&listener, &mut child);
        let _ = std::fs::remove_file(&socket_path);
        let stream = match accepted {
            Ok(stream) => stream,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let tail = tail_text(&stderr_tail);
                return Err(UdfError::Spawn { message: format!("{e}{}{tail}", if tail.is_empty() { "" } else { "\n" }) });
            }
        };
        let mut worker = Worker { child, stream, defined: HashSet::new(), stderr_tail };
        worker.stream.set_read_timeout(Some(START_TIMEOUT))?;
        let (tag, payload) = worker.read_frame()?;
        if tag != b'H' {
            return Err(UdfError::Protocol { message: format!("expected hello, got tag {tag}") });
        }
        let hello: serde_json::Value =
            serde_json::from_slice(&payload).map_err(|e| UdfError::Protocol { message: format!("bad hello: {e}") })?;
        tracing::info!(pid = worker.child.id(), python = %hello["python"], pyarrow = %hello["pyarrow"], "Python UDF worker started");
        Ok(worker)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Load `function` into this worker if it is not loaded yet.
    pub fn ensure_defined(&mut self, function: &PythonFunction, timeout: Duration) -> Result<()> {
        if self.defined.contains(&function.id) {
            return Ok(());
        }
        let (header, body) = function.define_message()?;
        let mut payload = Vec::with_capacity(4 + header.len() + body.len());
        payload.extend_from_slice(&(header.len() as u32).to_le_bytes());
        payload.extend_from_slice(&header);
        payload.extend_from_slice(&body);
        self.write_frame(b'D', &payload)?;
        match self.read_reply(function, timeout, None)? {
            (b'K', _) => {
                self.defined.insert(function.id);
                Ok(())
            }
            (b'E', payload) => Err(worker_error(function, &payload, 0)),
            (tag, _) => Err(UdfError::Protocol { message: format!("unexpected reply {tag} to define") }),
        }
    }

    /// Run `function` over one batch of arguments.
    pub fn call(
        &mut self,
        function: &PythonFunction,
        args: &RecordBatch,
        timeout: Duration,
        memory_limit: u64,
        interrupt: Option<&Interrupt>,
    ) -> Result<RecordBatch> {
        self.ensure_defined(function, timeout)?;
        // tag + length placeholder + function id, then the IPC stream, sent in one write.
        let mut frame = Vec::with_capacity(13 + args.get_array_memory_size() + 1024);
        frame.extend_from_slice(&[b'C', 0, 0, 0, 0]);
        frame.extend_from_slice(&function.id.to_le_bytes());
        let mut writer = StreamWriter::try_new(&mut frame, args.schema_ref())?;
        writer.write(args)?;
        writer.finish()?;
        drop(writer);
        let length = u32::try_from(frame.len() - 5)
            .map_err(|_| UdfError::Unsupported { what: "an argument batch over 4 GiB".to_string() })?;
        frame[1..5].copy_from_slice(&length.to_le_bytes());
        self.stream.write_all(&frame).map_err(|e| self.died(function, e))?;
        match self.read_reply(function, timeout, interrupt)? {
            (b'R', payload) => {
                let mut reader = StreamReader::try_new(Cursor::new(payload), None)?;
                match reader.next() {
                    Some(batch) => Ok(batch?),
                    None => Err(UdfError::Protocol { message: "empty result stream".to_string() }),
                }
            }
            (b'E', payload) => Err(worker_error(function, &payload, memory_limit)),
            (tag, _) => Err(UdfError::Protocol { message: format!("unexpected reply {tag} to call") }),
        }
    }

    /// Kill the process (a worker that timed out or broke the protocol is never reused).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Wait for the reply (looking at `interrupt` every [`POLL`]), then read it whole.
    fn read_reply(&mut self, function: &PythonFunction, timeout: Duration, interrupt: Option<&Interrupt>) -> Result<(u8, Vec<u8>)> {
        let deadline = Instant::now() + timeout;
        loop {
            if interrupt.is_some_and(Interrupt::is_interrupted) {
                self.kill();
                return Err(UdfError::Canceled { function: function.name.clone() });
            }
            let now = Instant::now();
            if now >= deadline {
                self.kill();
                return Err(UdfError::Timeout { function: function.name.clone(), timeout });
            }
            self.stream.set_read_timeout(Some((deadline - now).min(POLL).max(Duration::from_millis(1))))?;
            let mut tag = [0u8; 1];
            match self.stream.read(&mut tag) {
                Ok(0) => return Err(self.died(function, std::io::ErrorKind::UnexpectedEof.into())),
                Ok(_) => {
                    // The reply has started; the rest follows at once unless the worker dies.
                    let rest = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
                    self.stream.set_read_timeout(Some(rest))?;
                    return match self.read_frame_body(tag[0]) {
                        Ok(frame) => Ok(frame),
                        Err(UdfError::Io(e)) => Err(self.died(function, e)),
                        Err(other) => Err(other),
                    };
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted) => {}
                Err(e) => return Err(self.died(function, e)),
            }
        }
    }

    fn write_frame(&mut self, tag: u8, payload: &[u8]) -> Result<()> {
        let mut header = [0u8; 5];
        header[0] = tag;
        header[1..].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        self.stream.write_all(&header)?;
        self.stream.write_all(payload)?;
        Ok(())
    }

    fn read_frame(&mut self) -> Result<(u8, Vec<u8>)> {
        let mut tag = [0u8; 1];
        self.stream.read_exact(&mut tag)?;
        self.read_frame_body(tag[0])
    }

    /// The length and payload of a frame whose tag was read.
    fn read_frame_body(&mut self, tag: u8) -> Result<(u8, Vec<u8>)> {
        let mut length = [0u8; 4];
        self.stream.read_exact(&mut length)?;
        let mut payload = vec![0u8; u32::from_le_bytes(length) as usize];
        self.stream.read_exact(&mut payload)?;
        Ok((tag, payload))
    }

    /// The worker's connection broke: collect its exit status and last stderr lines.
    fn died(&mut self, function: &PythonFunction, error: std::io::Error) -> UdfError {
        let deadline = Instant::now() + Duration::from_secs(2);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break describe_exit(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    self.kill();
                    break format!("connection lost: {error}");
                }
                Err(e) => break format!("connection lost: {error}; {e}"),
            }
        };
        // Give the stderr thread a moment to drain the last lines.
        std::thread::sleep(Duration::from_millis(20));
        UdfError::WorkerDied { function: function.name.clone(), status, stderr: tail_text(&self.stderr_tail) }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the socket ends the worker's loop; kill makes sure.
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.kill();
    }
}

fn accept(listener: &UnixListener, child: &mut Child) -> std::result::Result<UnixStream, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).map_err(|e| e.to_string())?;
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("accept failed: {e}")),
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the worker exited at start ({})", describe_exit(status)));
        }
        if Instant::now() > deadline {
            return Err(format!("the worker did not connect within {}s", START_TIMEOUT.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}{}", signal_name(signal)),
        _ => status.to_string(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

fn forward_stderr(pid: u32, stderr: std::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        tracing::warn!(worker = pid, "python: {line}");
        let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

fn tail_text(tail: &Mutex<VecDeque<String>>) -> String {
    tail.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect::<Vec<_>>().join("\n")
}

/// An 'E' reply: `{"kind", "message", "traceback"}`.
fn worker_error(function: &PythonFunction, payload: &[u8], memory_limit: u64) -> UdfError {
    let value: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
    let text = |key: &str| value[key].as_str().unwrap_or_default().to_string();
    let (message, traceback) = (text("message"), text("traceback"));
    let name = function.name.clone();
    match value["kind"].as_str() {
        Some("define") => UdfError::Definition { function: name, message, traceback },
        Some("memory") => UdfError::MemoryLimit { function: name, limit_mib: memory_limit >> 20, message, traceback },
        Some("raised") => UdfError::Raised { function: name, message, traceback },
        _ => UdfError::Protocol { message },
    }
}
