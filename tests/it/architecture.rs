//! The crate's layers, as ARCHITECTURE.md draws them: no import cycle between modules and
//! no module using a higher layer. The check is scripts/module-graph.py, which reads the
//! `use` paths of src/.

use crate::helpers::repo_path;

#[test]
fn layers_hold() {
    let out = std::process::Command::new("python3")
        .arg(repo_path("scripts/module-graph.py"))
        .output()
        .expect("python3 runs (the CI installs it)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("no cycles and no upward imports"),
        "{report}"
    );
}
