//! The files a configuration was read from: path, bytes, and line lookup.

use sluice_parser::FileId;
use std::path::{Path, PathBuf};

/// One file read.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Absolute path as nginx prints it (prefix-resolved, not canonicalised).
    pub path: PathBuf,
    /// Raw bytes.
    pub text: Vec<u8>,
}

/// Every file read while loading, in the order first read (`-T` prints them so).
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// Adds a file, or returns the id it already has.
    pub fn add(&mut self, path: PathBuf, text: Vec<u8>) -> FileId {
        if let Some(i) = self.files.iter().position(|f| f.path == path) {
            return FileId(i as u32);
        }
        self.files.push(SourceFile { path, text });
        FileId((self.files.len() - 1) as u32)
    }

    /// The file behind an id.
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// The path behind an id.
    pub fn path(&self, id: FileId) -> &Path {
        &self.get(id).path
    }

    /// All files, in the order first read.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }
}
