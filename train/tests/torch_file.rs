//! The allowlist unpickler on hand-built pickles: what plain data is read as, and hostile input
//! refused by name (nesting, self-reference, oversized lengths, calls, truncation).

use shiftadd_train::torch_file::{parse_torch_file, TorchFileError, Value, MAX_DEPTH};
use std::path::Path;

/// Frames a pickle body as a pre-1.6 file: magic, protocol, sys_info, the object, no storages.
fn legacy(body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    // LONG1 of the 10-byte magic number 0x1950a86a20f9469cfc6c.
    f.extend([
        0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.',
    ]);
    f.extend([0x80, 2, b'M', 0xe9, 0x03, b'.']); // 1001
    f.extend([0x80, 2, b'}', b'(']);
    f.extend(b"X\x0d\x00\x00\x00little_endian");
    f.extend([0x88, b'u', b'.']);
    f.extend([0x80, 2]);
    f.extend(body);
    f.push(b'.');
    f.extend([0x80, 2, b']', b'.']); // no storage keys
    f
}

fn parse(body: &[u8]) -> Result<Value, TorchFileError> {
    parse_torch_file(&legacy(body), Path::new("test.pt"), 1 << 20).map(|f| f.root)
}

#[test]
fn plain_values_are_read() {
    // {'epoch': 160, 'best_prec1': 91.25, 'name': 'x', 'ok': True, 'none': None, 'neg': -2}
    let mut b = vec![b'}', b'('];
    b.extend(b"X\x05\x00\x00\x00epochM\xa0\x00");
    b.extend(b"X\x0a\x00\x00\x00best_prec1G");
    b.extend(91.25f64.to_be_bytes());
    b.extend(b"X\x04\x00\x00\x00nameX\x01\x00\x00\x00x");
    b.extend(b"X\x02\x00\x00\x00ok\x88");
    b.extend(b"X\x04\x00\x00\x00noneN");
    b.extend(b"X\x03\x00\x00\x00neg\x8a\x01\xfe");
    b.push(b'u');
    let d = parse(&b).unwrap().dict().unwrap();
    let get = |k: &str| {
        d.iter()
            .find(|(x, _)| x.str() == Some(k))
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(get("epoch").int(), Some(160));
    assert_eq!(get("best_prec1").number(), Some(91.25));
    assert_eq!(get("name").str(), Some("x"));
    assert_eq!(get("ok").int(), Some(1));
    assert!(matches!(get("none"), Value::None));
    assert_eq!(get("neg").int(), Some(-2));
}

#[test]
fn numpy_scalars_through_codecs_are_read() {
    // numpy.core.multiarray.scalar(numpy.dtype('f8', False, True), _codecs.encode(s, 'latin1'))
    let mut b = Vec::new();
    b.extend(b"cnumpy.core.multiarray\nscalar\n");
    b.extend(b"cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R");
    // BUILD with the dtype's state tuple, ignored.
    b.extend([b'(', b'K', 3, b'X', 1, 0, 0, 0, b'<', b'N', b't', b'b']);
    let raw = 91.25f64.to_le_bytes();
    let text: String = raw.iter().map(|&c| c as char).collect();
    let enc = text.as_bytes();
    b.extend(b"c_codecs\nencode\n");
    b.push(b'X');
    b.extend((enc.len() as u32).to_le_bytes());
    b.extend(enc);
    b.extend(b"X\x06\x00\x00\x00latin1\x86R\x86R");
    assert_eq!(parse(&b).unwrap().number(), Some(91.25));
}

fn refused(body: &[u8], what: &str) {
    match parse(body) {
        Ok(v) => panic!("accepted as {}", v.kind()),
        Err(e) => {
            assert!(e.what.contains(what), "{e}");
            assert!(e.field.contains("at byte"), "{e}");
        }
    }
}

#[test]
fn hostile_pickles_are_refused_by_name() {
    // Nesting deeper than MAX_DEPTH: ] then (MAX_DEPTH + 1) x TUPLE1.
    let mut deep = vec![b']'];
    deep.extend(std::iter::repeat_n(0x85, MAX_DEPTH as usize + 1));
    refused(&deep, "nested deeper");
    // A list appended to itself (through DUP).
    refused(b"]2a", "inside itself");
    // A list changed after it was placed in a tuple (through the memo).
    refused(
        &[b']', b'q', 0, 0x85, b'0', b'h', 0, b'N', b'a'],
        "changed after",
    );
    // A str longer than the data.
    refused(b"X\xff\xff\xff\x7f", "past the end");
    // An int of 17 bytes.
    let mut long = vec![0x8a, 17];
    long.extend([1u8; 17]);
    refused(&long, "17 bytes");
    // An opcode plain data does not use (INST).
    refused(b"ios\nsystem\n", "opcode 0x69");
    // A memo entry never stored.
    refused(&[b'h', 7], "never stored");
    // A call of something that is not a global.
    refused(b"N)R", "a call of None");
    // Values left on the stack.
    refused(b"NN", "left on the stack");
    // A persistent id that is not a storage.
    refused(b"NQ", "not a storage");
}

#[test]
fn unknown_globals_are_never_called() {
    // os.system('x') is kept as an opaque object.
    let v = parse(b"cos\nsystem\nX\x01\x00\x00\x00x\x85R").unwrap();
    assert!(
        matches!(&v, Value::Object(g) if &**g == "os.system"),
        "{}",
        v.kind()
    );
}

#[test]
fn truncated_and_foreign_files_are_refused() {
    let file = legacy(b"N");
    for cut in [1, 5, 16, 30, file.len() - 1] {
        let e = parse_torch_file(&file[..cut], Path::new("t.pt"), 1 << 20)
            .err()
            .unwrap_or_else(|| panic!("cut at {cut} accepted"));
        assert_eq!(e.file, Path::new("t.pt"));
    }
    let e = parse_torch_file(b"hello", Path::new("t.pt"), 1 << 20)
        .err()
        .unwrap();
    assert!(e.what.contains("not a file torch.save wrote"), "{e}");
    let e = parse_torch_file(b"PK\x03\x04junk", Path::new("t.pt"), 1 << 20)
        .err()
        .unwrap();
    assert_eq!(e.field, "(zip)", "{e}");
}

/// A storage's persistent id: `('storage', torch.FloatStorage, key, 'cpu', 1)`.
fn pid(key: &[u8]) -> Vec<u8> {
    let mut b = vec![b'('];
    b.extend(b"X\x07\x00\x00\x00storage");
    b.extend(b"ctorch\nFloatStorage\n");
    b.push(b'X');
    b.extend((key.len() as u32).to_le_bytes());
    b.extend(key);
    b.extend(b"X\x03\x00\x00\x00cpuK\x01t");
    b
}

#[test]
fn memo_reuse_neither_explodes_the_walk_nor_memory() {
    // A tuple of two references to the one before it, 62 times over a storage: 2^62 paths,
    // 63 values. Walking it for storages visits each container once.
    let mut b = pid(b"0");
    b.extend([b'Q', b'q', 0, b'0']);
    for i in 0..62u8 {
        b.extend([b'h', i, b'h', i, 0x86, b'q', i + 1, b'0']);
    }
    b.extend([b'h', 62]);
    let start = std::time::Instant::now();
    let e = parse(&b).unwrap_err();
    assert!(e.what.contains("not in the file"), "{e}");
    assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());

    // A storage key of 100 kB memoised, then turned into a storage 1,000 times: each copy of
    // the key is charged, and the pickle is refused long before 100 MB are built.
    let mut b = pid(&vec![b'k'; 100_000]);
    b.extend([b'q', 1, b'0']);
    for _ in 0..1000 {
        b.extend([b'h', 1, b'Q', b'0']);
    }
    b.push(b'N');
    let e = parse(&b).unwrap_err();
    assert!(e.what.contains("builds more than"), "{e}");
}
