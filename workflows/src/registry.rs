//! The job kinds a worker can run, looked up by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Workflow;

/// Workflows by kind name.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn Workflow>>,
}

impl Registry {
    /// Adds a workflow; a later one with the same kind replaces the earlier.
    pub fn with(mut self, workflow: impl Workflow) -> Self {
        self.kinds.insert(workflow.kind(), Arc::new(workflow));
        self
    }

    pub fn get(&self, kind: &str) -> Option<Arc<dyn Workflow>> {
        self.kinds.get(kind).cloned()
    }

    /// Kind names, sorted.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }
}
