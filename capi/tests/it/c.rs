//! The header and the C example, compiled with the system C compiler and linked against the
//! cdylib cargo built for these tests; and checks that every exported function, with its
//! parameter and return types, and every constant is declared in the header.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use motionseg_capi::*;

use crate::common::*;

fn capi(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The header with its comments removed.
fn header_code() -> String {
    let text = std::fs::read_to_string(capi("include/motionseg.h")).expect("header");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        let end = rest[i + 2..].find("*/").expect("closed comment");
        rest = &rest[i + 2 + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Identifiers `ms_xxx` directly followed by `(` in `code` (function declarations).
fn called_names(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in code.match_indices("ms_") {
        if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String =
            code[i..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if code[i + name.len()..].starts_with('(') {
            names.insert(name);
        }
    }
    names
}

#[test]
fn every_exported_function_and_constant_is_in_the_header() {
    let rust = std::fs::read_to_string(capi("src/lib.rs")).expect("lib.rs");
    let lines: Vec<&str> = rust.lines().collect();
    let mut exported = BTreeSet::new();
    for (i, l) in lines.iter().enumerate() {
        if l.trim() == "#[no_mangle]" {
            let decl = lines[i + 1];
            let name = decl.split("fn ").nth(1).and_then(|s| s.split('(').next());
            exported.insert(name.unwrap_or_else(|| panic!("no fn after #[no_mangle]: {decl}")));
        }
    }
    let exported: BTreeSet<String> = exported.into_iter().map(str::to_owned).collect();
    let declared = called_names(&header_code());
    assert!(exported.len() >= 13, "{exported:?}");
    assert_eq!(exported, declared, "#[no_mangle] functions (left) vs header declarations (right)");

    let consts = |text: &str, prefix: &str| -> BTreeSet<(String, String)> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(prefix))
            .filter_map(|l| {
                let mut w =
                    l.split(|c: char| c.is_whitespace() || c == ':' || c == '=' || c == ';');
                let name = w.next()?.to_owned();
                let value = w.find(|s| !s.is_empty() && !matches!(*s, "c_int" | "u32"))?.to_owned();
                name.starts_with("MS_").then_some((name, value))
            })
            .collect()
    };
    let rust_consts = consts(&rust, "pub const ");
    let header_consts = consts(&header_code(), "#define ");
    assert!(rust_consts.len() >= 15, "{rust_consts:?}");
    assert_eq!(rust_consts, header_consts, "constants in lib.rs (left) vs header (right)");
}

/// C type tokens of a Rust FFI type as lib.rs writes it (`*const *const c_char` →
/// `const char * const *`): the pointee's tokens, `const` before a plain pointee or after a
/// pointer one, then `*`.
fn c_type(rust: &str) -> Vec<String> {
    let rust = rust.trim();
    for (prefix, is_const) in [("*const ", true), ("*mut ", false)] {
        if let Some(inner) = rust.strip_prefix(prefix) {
            let mut t = c_type(inner);
            if is_const {
                if t.last().is_some_and(|x| x == "*") {
                    t.push("const".into());
                } else {
                    t.insert(0, "const".into());
                }
            }
            t.push("*".into());
            return t;
        }
    }
    let base = match rust {
        "" | "()" => "void".to_owned(),
        "c_char" => "char".to_owned(),
        "c_int" => "int".to_owned(),
        "c_void" => "void".to_owned(),
        "usize" => "size_t".to_owned(),
        "u32" => "uint32_t".to_owned(),
        "u64" => "uint64_t".to_owned(),
        "i64" => "int64_t".to_owned(),
        "f32" => "float".to_owned(),
        "f64" => "double".to_owned(),
        // MsEventCb → ms_event_cb
        ms if ms.starts_with("Ms") => {
            let mut out = String::from("ms");
            for c in ms[2..].chars() {
                if c.is_ascii_uppercase() {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            }
            out
        }
        other => panic!("no C spelling for Rust type {other:?}: extend c_type"),
    };
    vec![base]
}

/// `a,b` split at commas outside parentheses and angle brackets, trimmed, empties dropped.
fn top_level_args(list: &str) -> Vec<String> {
    let (mut depth, mut cur, mut out) = (0i32, String::new(), Vec::new());
    for c in list.chars() {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect()
}

/// C tokens, `*` apart.
fn c_tokens(c: &str) -> Vec<String> {
    c.replace('*', " * ").split_whitespace().map(str::to_owned).collect()
}

/// `name → (return type, parameter types)` of every `ms_*` function declared in the header,
/// parameter names dropped.
fn header_signatures() -> std::collections::BTreeMap<String, (Vec<String>, Vec<Vec<String>>)> {
    let code = header_code();
    let mut out = std::collections::BTreeMap::new();
    for decl in code.split(';') {
        let decl = decl.rsplit(['}', '{', '#']).next().unwrap_or(decl);
        let decl = decl.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>();
        let decl = decl.join(" ");
        let Some(open) = decl.find('(') else { continue };
        let head = c_tokens(&decl[..open]);
        let Some((name, ret)) = head.split_last() else { continue };
        if !name.starts_with("ms_") || decl.contains("typedef") {
            continue;
        }
        let close = decl.rfind(')').expect("closing parenthesis");
        let params = top_level_args(&decl[open + 1..close])
            .iter()
            .filter(|p| p.as_str() != "void")
            .map(|p| {
                let mut t = c_tokens(p);
                t.pop(); // the parameter's name
                t
            })
            .collect();
        out.insert(name.clone(), (ret.to_vec(), params));
    }
    out
}

/// The same from lib.rs's `extern "C" fn ms_*` definitions, types translated by [`c_type`].
fn rust_signatures() -> std::collections::BTreeMap<String, (Vec<String>, Vec<Vec<String>>)> {
    let rust = std::fs::read_to_string(capi("src/lib.rs")).expect("lib.rs");
    let mut out = std::collections::BTreeMap::new();
    for (i, _) in rust.match_indices("extern \"C\" fn ms_") {
        let rest = &rust[i + "extern \"C\" fn ".len()..];
        let open = rest.find('(').expect("parameters");
        let name = rest[..open].to_owned();
        let mut depth = 0;
        let close = rest
            .char_indices()
            .skip(open)
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map(|(j, _)| j)
            .expect("closing parenthesis");
        let params = top_level_args(&rest[open + 1..close])
            .iter()
            .map(|p| c_type(p.split_once(':').expect("name: type").1))
            .collect();
        let after = &rest[close + 1..rest[close..].find('{').map_or(rest.len(), |b| close + b)];
        let ret = c_type(after.trim().strip_prefix("->").unwrap_or(""));
        out.insert(name, (ret, params));
    }
    out
}

#[test]
fn every_function_signature_matches_the_header() {
    // The C compiler checks the example's calls against the header only; nothing checks the
    // header against the Rust definitions, so a parameter of the wrong width or constness
    // would link and misbehave. Compare them as C type tokens.
    let (header, rust) = (header_signatures(), rust_signatures());
    assert!(rust.len() >= 13, "{rust:?}");
    assert_eq!(
        header.keys().collect::<Vec<_>>(),
        rust.keys().collect::<Vec<_>>(),
        "functions declared (left) vs defined (right)"
    );
    for (name, sig) in &rust {
        assert_eq!(&header[name], sig, "{name}: header (left) vs lib.rs (right)");
    }
    // The event callback's type, `ms_event_cb`.
    let lib = std::fs::read_to_string(capi("src/lib.rs")).expect("lib.rs");
    let cb = lib.split("pub type MsEventCb = Option<unsafe extern \"C\" fn(").nth(1).expect("cb");
    let rust_cb: Vec<Vec<String>> = top_level_args(&cb[..cb.find(')').expect(")")])
        .iter()
        .map(|p| c_type(p.split_once(':').expect("name: type").1))
        .collect();
    let code = header_code();
    let cb = code.split("typedef void (*ms_event_cb)(").nth(1).expect("typedef ms_event_cb");
    let header_cb: Vec<Vec<String>> = top_level_args(&cb[..cb.find(')').expect(")")])
        .iter()
        .map(|p| {
            let mut t = c_tokens(p);
            t.pop();
            t
        })
        .collect();
    assert_eq!(header_cb, rust_cb, "ms_event_cb: header (left) vs lib.rs (right)");
    // The translation itself, on the forms lib.rs uses.
    assert_eq!(c_type("*const *const c_char"), c_tokens("const char *const *"));
    assert_eq!(c_type("*mut *mut MsSegment"), c_tokens("ms_segment **"));
    assert_eq!(c_type("MsEventCb"), c_tokens("ms_event_cb"));
}

/// The C compiler (`$CC`, else `cc`), or `None` when there is none.
fn c_compiler() -> Option<String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let ok = Command::new(&cc).arg("--version").output().is_ok_and(|o| o.status.success());
    if ok {
        Some(cc)
    } else {
        eprintln!("SKIPPED: no C compiler ({cc}); install gcc to run the C ABI's C tests");
        None
    }
}

/// The folder with the libmotionseg_capi.so cargo built for this test binary: `cargo test`
/// leaves it in `target/<profile>/deps` beside the test binary (`cargo build` also copies it
/// up to `target/<profile>`).
fn lib_dir() -> PathBuf {
    let so =
        if cfg!(target_os = "macos") { "libmotionseg_capi.dylib" } else { "libmotionseg_capi.so" };
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("target/<profile>/deps").to_owned();
    let up = deps.parent().map(Path::to_path_buf);
    [Some(deps.clone()), up]
        .into_iter()
        .flatten()
        .find(|d| d.join(so).is_file())
        .unwrap_or_else(|| panic!("{so} not found in {} or its parent", deps.display()))
}

/// Runs a program linked by [`compile`], the fresh library first on its library path. Its rpath
/// names that library, but cargo's `LD_LIBRARY_PATH` (which also lists `target/<profile>`,
/// where a stale library from an earlier `cargo build -p motionseg-capi` can sit) would take
/// precedence over the rpath.
fn c_program(exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    for var in ["LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"] {
        let mut dirs = vec![lib_dir()];
        dirs.extend(std::env::var_os(var).iter().flat_map(std::env::split_paths));
        cmd.env(var, std::env::join_paths(dirs).expect("library path"));
    }
    cmd
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Compiles `source` (C99, every warning an error) against the header and the cdylib.
fn compile(cc: &str, source: &Path, name: &str) -> PathBuf {
    compile_with(cc, source, name, &[])
}

/// [`compile`], with `includes` searched before the header's own folder.
fn compile_with(cc: &str, source: &Path, name: &str, includes: &[&Path]) -> PathBuf {
    let lib = lib_dir();
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    run_ok(
        Command::new(cc)
            .args(["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-o"])
            .arg(&exe)
            .args(includes.iter().flat_map(|i| [Path::new("-I"), i]))
            .arg("-I")
            .arg(capi("include"))
            .arg(source)
            .arg("-L")
            .arg(&lib)
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .arg("-lmotionseg_capi"),
    );
    exe
}

#[test]
fn header_compiles_as_cpp_and_struct_layouts_match() {
    let Some(cc) = c_compiler() else { return };
    // C++: the extern "C" block and the typedefs.
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_owned());
    if Command::new(&cxx).arg("--version").output().is_ok_and(|o| o.status.success()) {
        run_ok(
            Command::new(&cxx)
                .args(["-std=c++11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-x", "c++"])
                .arg(capi("include/motionseg.h")),
        );
    } else {
        eprintln!("no C++ compiler ({cxx}): header not checked as C++");
    }
    let exe = compile(&cc, &capi("tests/layout.c"), "layout");
    let out = run_ok(&mut c_program(&exe));
    let c: Vec<(String, usize)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("name value");
            (k.to_owned(), v.parse().expect("number"))
        })
        .collect();
    assert_eq!(c, rust_layout(), "C layout (left) vs Rust layout (right)");
}

/// Sizes, offsets and constants of the Rust side, as `tests/layout.c` prints them for C.
fn rust_layout() -> Vec<(String, usize)> {
    use std::mem::{offset_of, size_of};
    let rust: Vec<(&str, usize)> = vec![
        ("ms_event.size", size_of::<MsEvent>()),
        ("ms_event.kind", offset_of!(MsEvent, kind)),
        ("ms_event.is_final", offset_of!(MsEvent, is_final)),
        ("ms_event.segment_id", offset_of!(MsEvent, segment_id)),
        ("ms_event.other_id", offset_of!(MsEvent, other_id)),
        ("ms_event.start_frame", offset_of!(MsEvent, start_frame)),
        ("ms_event.end_frame", offset_of!(MsEvent, end_frame)),
        ("ms_event.label", offset_of!(MsEvent, label)),
        ("ms_event.from_label", offset_of!(MsEvent, from_label)),
        ("ms_event.confidence", offset_of!(MsEvent, confidence)),
        ("ms_segment.size", size_of::<MsSegment>()),
        ("ms_segment.start_frame", offset_of!(MsSegment, start_frame)),
        ("ms_segment.end_frame", offset_of!(MsSegment, end_frame)),
        ("ms_segment.start_s", offset_of!(MsSegment, start_s)),
        ("ms_segment.end_s", offset_of!(MsSegment, end_s)),
        ("ms_segment.label", offset_of!(MsSegment, label)),
        ("ms_segment.confidence", offset_of!(MsSegment, confidence)),
        ("ms_settings.size", size_of::<MsSettings>()),
        ("ms_settings.min_segment_frames", offset_of!(MsSettings, min_segment_frames)),
        ("ms_settings.merge_threshold", offset_of!(MsSettings, merge_threshold)),
        ("ms_settings.provisional_every", offset_of!(MsSettings, provisional_every)),
        ("ms_settings.boundary_penalty", offset_of!(MsSettings, boundary_penalty)),
        ("MS_ABI_VERSION", MS_ABI_VERSION as usize),
        ("ms_abi_version()", ms_abi_version() as usize),
        ("MS_OK", MS_OK as usize),
        ("MS_ERR_NULL", MS_ERR_NULL as usize),
        ("MS_ERR_ARGUMENT", MS_ERR_ARGUMENT as usize),
        ("MS_ERR_IO", MS_ERR_IO as usize),
        ("MS_ERR_FORMAT", MS_ERR_FORMAT as usize),
        ("MS_ERR_RUNTIME", MS_ERR_RUNTIME as usize),
        ("MS_ERR_STATE", MS_ERR_STATE as usize),
        ("MS_ERR_PANIC", MS_ERR_PANIC as usize),
        ("MS_EVENT_OPENED", MS_EVENT_OPENED as usize),
        ("MS_EVENT_EXTENDED", MS_EVENT_EXTENDED as usize),
        ("MS_EVENT_CLOSED", MS_EVENT_CLOSED as usize),
        ("MS_EVENT_RELABEL", MS_EVENT_RELABEL as usize),
        ("MS_EVENT_MERGED", MS_EVENT_MERGED as usize),
        ("MS_EVENT_REVISED", MS_EVENT_REVISED as usize),
        ("MS_EVENT_FINALIZED", MS_EVENT_FINALIZED as usize),
    ];
    rust.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The layout ABI version 1 was released with (needs no C compiler): a change without a new
/// `MS_ABI_VERSION` would let programs built for the old header misread the structs or codes.
#[test]
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn abi_version_1_layout_is_frozen() {
    assert_eq!(MS_ABI_VERSION, 1, "new ABI version: record its layout beside ABI_V1");
    assert_eq!(ms_abi_version(), MS_ABI_VERSION);
    let v1: Vec<(String, usize)> = ABI_V1.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(rust_layout(), v1, "layout or constants changed: bump MS_ABI_VERSION");
}

/// Struct sizes, offsets and constants of ABI version 1 (64-bit Linux), in the order of the
/// layout test.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
const ABI_V1: [(&str, usize); 39] = [
    ("ms_event.size", 64),
    ("ms_event.kind", 0),
    ("ms_event.is_final", 4),
    ("ms_event.segment_id", 8),
    ("ms_event.other_id", 16),
    ("ms_event.start_frame", 24),
    ("ms_event.end_frame", 32),
    ("ms_event.label", 40),
    ("ms_event.from_label", 48),
    ("ms_event.confidence", 56),
    ("ms_segment.size", 48),
    ("ms_segment.start_frame", 0),
    ("ms_segment.end_frame", 8),
    ("ms_segment.start_s", 16),
    ("ms_segment.end_s", 24),
    ("ms_segment.label", 32),
    ("ms_segment.confidence", 40),
    ("ms_settings.size", 32),
    ("ms_settings.min_segment_frames", 0),
    ("ms_settings.merge_threshold", 8),
    ("ms_settings.provisional_every", 16),
    ("ms_settings.boundary_penalty", 24),
    ("MS_ABI_VERSION", 1),
    ("ms_abi_version()", 1),
    ("MS_OK", 0),
    ("MS_ERR_NULL", 1),
    ("MS_ERR_ARGUMENT", 2),
    ("MS_ERR_IO", 3),
    ("MS_ERR_FORMAT", 4),
    ("MS_ERR_RUNTIME", 5),
    ("MS_ERR_STATE", 6),
    ("MS_ERR_PANIC", 7),
    ("MS_EVENT_OPENED", 1),
    ("MS_EVENT_EXTENDED", 2),
    ("MS_EVENT_CLOSED", 3),
    ("MS_EVENT_RELABEL", 4),
    ("MS_EVENT_MERGED", 5),
    ("MS_EVENT_REVISED", 6),
    ("MS_EVENT_FINALIZED", 7),
];

/// `batch|stream INDEX START END START_S END_S LABEL CONFIDENCE` lines of one kind.
fn segment_lines(stdout: &str, kind: &str) -> Vec<(u64, u64, String, String, i64, String)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(kind).and_then(|l| l.strip_prefix(' ')))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 7, "{l}");
            let n = |s: &str| s.parse::<u64>().expect("frame");
            (
                n(f[1]),
                n(f[2]),
                f[3].to_owned(),
                f[4].to_owned(),
                f[5].parse().expect("label"),
                f[6].to_owned(),
            )
        })
        .collect()
}

#[test]
fn c_example_refuses_a_library_of_another_abi_version() {
    // Built against a header that says version 2, the example must stop before any other call
    // with a message naming both versions (the library says 1).
    let Some(cc) = c_compiler() else { return };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("abi2");
    std::fs::create_dir_all(&dir).expect("dir");
    let header = std::fs::read_to_string(capi("include/motionseg.h")).expect("header");
    let v2 = header.replace("#define MS_ABI_VERSION 1", "#define MS_ABI_VERSION 2");
    assert_ne!(v2, header, "MS_ABI_VERSION 1 not in the header");
    std::fs::write(dir.join("motionseg.h"), v2).expect("write");
    let exe = compile_with(&cc, &capi("examples/segment.c"), "segment_abi2", &[&dir]);
    let out = c_program(&exe).arg(repo(MANIFEST)).arg(repo(TAKE)).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ABI version 1, this program was built for 2"), "{err}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn c_example_labels_and_streams_the_bundled_take() {
    let Some(cc) = c_compiler() else { return };
    let exe = compile(&cc, &capi("examples/segment.c"), "segment");
    let t = take();
    // The take's raw frames as little-endian float32 for the streaming half.
    let frames_file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("86_01.f32");
    let bytes: Vec<u8> = t.frames.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&frames_file, bytes).expect("write frames");
    let out = run_ok(
        c_program(&exe)
            .arg(repo(MANIFEST))
            .arg(repo(TAKE))
            .arg(repo(ASF))
            .arg("4")
            .arg(&frames_file)
            .arg(t.fps.to_string()),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with(&format!("motionseg {}\n", env!("CARGO_PKG_VERSION"))), "{stdout}");
    // The layout read by channel name: 96 values, 31 joints, in the order the model checks.
    assert!(stdout.lines().any(|l| l == "layout 96 31 ok"), "{stdout}");
    let fps = t.fps;
    let want: Vec<_> = reference(4)
        .iter()
        .map(|s| {
            (
                s.start as u64,
                s.end as u64,
                format!("{:.3}", s.start_s(fps)),
                format!("{:.3}", s.end_s(fps)),
                s.label.map_or(-1, |l| l as i64),
                format!("{:.3}", s.confidence),
            )
        })
        .collect();
    assert_eq!(segment_lines(&stdout, "batch"), want, "C batch vs Rust batch\n{stdout}");
    assert_eq!(segment_lines(&stdout, "stream"), want, "C stream vs Rust batch\n{stdout}");
    let events: Vec<u64> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("events "))
        .expect("events line")
        .split(' ')
        .map(|n| n.parse().expect("count"))
        .collect();
    assert!(events[0] > 0 && events[1] > 0, "live OPENED and EXTENDED events: {events:?}");
    assert_eq!(events[5], want.len() as u64, "one REVISED event per final segment");
    assert!(events[6] >= 1, "FINALIZED");

    // The static library works the same (batch half only, to keep the test short).
    let a = lib_dir().join("libmotionseg_capi.a");
    if cfg!(target_os = "linux") && a.is_file() {
        let exe_static = Path::new(env!("CARGO_TARGET_TMPDIR")).join("segment_static");
        run_ok(
            Command::new(&cc)
                .args(["-std=c99", "-Wall", "-Werror", "-o"])
                .arg(&exe_static)
                .arg("-I")
                .arg(capi("include"))
                .arg(capi("examples/segment.c"))
                .arg(&a)
                .args(["-lpthread", "-ldl", "-lm"]),
        );
        let out = run_ok(
            Command::new(&exe_static).arg(repo(MANIFEST)).arg(repo(TAKE)).arg(repo(ASF)).arg("4"),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(segment_lines(&stdout, "batch"), want, "static library: C batch vs Rust batch");
    }

    // Errors reach C as a status and a message naming the file.
    let out = c_program(&exe)
        .arg(repo(MANIFEST))
        .arg(repo("examples/data/no_such.amc"))
        .arg(repo(ASF))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ms_label_file") && stderr.contains("no_such.amc"), "{stderr}");
}
