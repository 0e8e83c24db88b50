//! A small tmpfs mounted for one test: a disk that fills up on purpose. Mounting needs
//! root (or CAP_SYS_ADMIN); where the machine does not allow it the test is skipped,
//! saying why.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as mount's `size=` option: "16m") on the empty folder
    /// `path`, or says why it cannot and returns None.
    pub fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(path)
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Tmpfs {
                path: path.to_path_buf(),
            }),
            Ok(out) => {
                eprintln!(
                    "skipped: this machine does not let the test mount a tmpfs ({})",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount to make a small disk ({e})");
                None
            }
        }
    }

    /// Writes a file into the tmpfs until the disk is full; returns its path.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        // What is left is smaller than a chunk: take it too, a page at a time.
        let page = vec![0u8; 4096];
        while matches!(file.write(&page), Ok(n) if n > 0) {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: files still open (a test that failed midway) do not keep it mounted.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
