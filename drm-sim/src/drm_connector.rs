//! `DrmConnector`, `DrmConnectorState`: a display output and the CRTC routed to it. Mirrors
//! drivers/gpu/drm/drm_connector.c.
//!
//! # Contract
//! - A connector's state says which CRTC drives it; like every atomic state it is replaced
//!   as a whole by a commit.
//!
//! # Locking
//! - `crtc_ww_class_mutex`: all connector state is under the device's one connection mutex
//!   (`&dev->mode_config.connection_mutex`), not a lock per connector.
//!
//! # Annotations
//! None.
//!
//! # Rules
//! R18 (its lock is a modeset lock).
//!
//! # Simplified
//! - Always connected, no probing, EDID or properties; connector `i` is wired to CRTC `i`.

use std::sync::{Arc, Mutex as StdMutex};

use crate::drm_crtc::DrmCrtcCommit;

/// A connector's atomic state (`struct drm_connector_state`).
#[derive(Clone, Debug, Default)]
pub struct DrmConnectorState {
    /// Its connector.
    pub connector: usize,
    /// The CRTC driving it, if any.
    pub crtc: Option<usize>,
    /// The commit that made this state.
    pub commit: Option<Arc<DrmCrtcCommit>>,
}

/// A display output (`struct drm_connector`).
pub struct DrmConnector {
    index: usize,
    /// Written only under the connection mutex; the std mutex is held for a pointer copy.
    state: StdMutex<Arc<DrmConnectorState>>,
}

impl DrmConnector {
    pub(crate) fn new(index: usize) -> Arc<DrmConnector> {
        Arc::new(DrmConnector {
            index,
            state: StdMutex::new(Arc::new(DrmConnectorState {
                connector: index,
                ..DrmConnectorState::default()
            })),
        })
    }

    /// Its index (`drm_connector_index`).
    #[doc(alias = "drm_connector_index")]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The current state (`connector->state`).
    pub fn state(&self) -> Arc<DrmConnectorState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Installs a new state, returning the old one (`swap_state`, under the connection mutex).
    pub fn set_state(&self, new: Arc<DrmConnectorState>) -> Arc<DrmConnectorState> {
        std::mem::replace(&mut *self.state.lock().unwrap_or_else(|e| e.into_inner()), new)
    }
}

impl std::fmt::Debug for DrmConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmConnector")
            .field("index", &self.index)
            .finish()
    }
}
