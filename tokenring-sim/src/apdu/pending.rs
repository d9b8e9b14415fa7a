//! A CTAP2 request the simulator works on, on its own thread, while the
//! card keeps answering APDUs (status updates, a cancel, a reset).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokenring_core::{KeepaliveStatus, Status};

use crate::{DeviceContext, Simulator};

/// NFCCTAP status update byte: still processing (CTAP 2.1 §11.3.7).
pub(crate) const STATUS_PROCESSING: u8 = 0x01;
/// NFCCTAP status update byte: user presence needed.
pub(crate) const STATUS_UP_NEEDED: u8 = 0x02;

/// What the worker thread shares with the card while the simulator works.
#[derive(Default)]
struct Progress {
    status: AtomicU8,
    cancel: AtomicBool,
}

/// The simulator's [`DeviceContext`] on the worker thread.
struct WorkerContext(Arc<Progress>);

impl DeviceContext for WorkerContext {
    fn keepalive(&mut self, status: KeepaliveStatus) {
        let byte = match status {
            KeepaliveStatus::Processing => STATUS_PROCESSING,
            KeepaliveStatus::UserPresenceNeeded => STATUS_UP_NEEDED,
        };
        self.0.status.store(byte, Ordering::SeqCst);
    }

    fn cancelled(&mut self) -> bool {
        self.0.cancel.load(Ordering::SeqCst)
    }
}

/// A request the simulator works on, on its own thread.
pub(crate) struct Pending {
    progress: Arc<Progress>,
    result: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<()>>,
    /// The request came as an extended APDU (answer likewise, §11.3.5).
    pub(crate) extended: bool,
    /// The most response bytes the host takes.
    pub(crate) ne: usize,
}

impl Pending {
    /// Runs `command` with `payload` on the simulator, on its own thread.
    pub(crate) fn start(
        simulator: &Arc<Mutex<Simulator>>,
        command: u8,
        payload: Vec<u8>,
        extended: bool,
        ne: usize,
    ) -> Pending {
        let progress = Arc::new(Progress::default());
        progress.status.store(STATUS_PROCESSING, Ordering::SeqCst);
        let (sender, result) = mpsc::channel();
        let simulator = Arc::clone(simulator);
        let context = WorkerContext(Arc::clone(&progress));
        let worker = std::thread::Builder::new()
            .name("sim-card".into())
            .spawn(move || {
                let mut context = context;
                let response = lock(&simulator).process(command, &payload, &mut context);
                let _ = sender.send(response);
            });
        // No thread: the receiver sees a disconnect and answers an error.
        let worker = worker.ok();
        Pending {
            progress,
            result,
            worker,
            extended,
            ne,
        }
    }

    /// Asks the simulator to stop waiting (NFCCTAP_GETRESPONSE with P1 `11`).
    pub(crate) fn cancel(&self) {
        self.progress.cancel.store(true, Ordering::SeqCst);
    }

    /// The status update byte: processing or user presence needed.
    pub(crate) fn status_update(&self) -> u8 {
        self.progress.status.load(Ordering::SeqCst)
    }

    pub(crate) fn finish(&mut self, wait: Duration) -> Option<Vec<u8>> {
        match self.result.recv_timeout(wait) {
            Ok(response) => {
                self.join();
                Some(response)
            }
            Err(RecvTimeoutError::Timeout) => None,
            // The worker died without answering (a panic in the simulator):
            // answer CTAP1_ERR_OTHER rather than hang.
            Err(RecvTimeoutError::Disconnected) => {
                self.join();
                Some(vec![Status::Other.into()])
            }
        }
    }

    /// Waits as long as the simulator takes.
    pub(crate) fn wait(&mut self) -> Vec<u8> {
        let response = self
            .result
            .recv()
            .unwrap_or_else(|_| vec![Status::Other.into()]);
        self.join();
        response
    }

    fn join(&mut self) {
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }

    /// Cancels and waits for the simulator to give up.
    pub(crate) fn abandon(mut self) {
        self.progress.cancel.store(true, Ordering::SeqCst);
        let _ = self.result.recv();
        self.join();
    }
}

pub(crate) fn lock(simulator: &Mutex<Simulator>) -> MutexGuard<'_, Simulator> {
    simulator.lock().unwrap_or_else(PoisonError::into_inner)
}
