//! Rebuilds the server when the browser tool or the package's browser build changes, since
//! release builds embed them (a new file would otherwise go unnoticed by cargo).

fn main() {
    for dir in ["../../www", "../../pkg/src", "../../pkg/gen/web"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
