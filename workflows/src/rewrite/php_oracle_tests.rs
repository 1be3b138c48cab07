//! The PHP oracle: PHP itself generates varied serialized values (nested arrays, objects with
//! protected/private members, references, `maybe_serialize`d strings, JSON, multibyte and binary
//! text, URL decoys), `rewrite_value` rewrites them, and PHP checks that every result
//! `unserialize()`s and is byte-identical to what PHP produces by unserializing the original,
//! rewriting every string value recursively with an independent regex implementation of the same
//! rules, and serializing again. Needs `php` on PATH (Debian: `apt-get install -y php-cli`).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::rule::{Options, Rule};
use super::Rewriter;

/// Class definitions shared by the generator and the verifier.
const PHP_CLASSES: &str = r#"
class WidgetConfig {
    public $title; protected $url; private $items;
    public function __construct($t, $u, $i) { $this->title = $t; $this->url = $u; $this->items = $i; }
}
class Plain_Holder { public $a; public $b = 'default'; }
"#;

const PHP_GENERATE: &str = r#"
mt_srand((int)$argv[1]);
function pick(array $xs) { return $xs[mt_rand(0, count($xs) - 1)]; }
function url() {
    $origin = pick(['https://example.com', 'http://example.com', '//example.com',
        'https://www.example.com', 'http://www.example.com', 'HTTPS://example.com',
        'https://example.com.au', 'https://cdn.example.com', 'https://example.com:8080', 'ftp://example.com',
        '//example.community', 'admin@example.com', 'https:\\/\\/example.com',
        'https:\\\\\\/\\\\\\/example.com', 'https:\\u002F\\u002Fexample.com', '\\u002f\\u002fwww.example.com',
        'https://example.com.evil.org', 'https://xexample.com', 'https:\\\\\\/\\\\\\/example.com.evil.org',
        'https:\\\\/\\/example.com']);
    $path = pick(['', '/', '/wp-content/uploads/2024/05/photo-ä.jpg', '/shop/?add-to-cart=5&x=y',
        '/#top', '?p=12', '/über/日本', '.', ':', '";}']);
    return $origin . $path;
}
function text($depth) {
    switch (mt_rand(0, 18)) {
        case 0: return url();
        case 1: return 'Grüße aus 日本 — see ' . url() . ' ✓';
        case 2: return json_encode(['link' => url(), 'n' => mt_rand(), 'nested' => ['img' => url(), 't' => 'ü']]);
        case 3: return pick(['admin@example.com', 'https://example.com.au/x', 'https://cdn.example.com/x',
            'example.com', 'https://example.com:8080/x', 'ftp://example.com/f', 'https://example.community',
            'mailto:admin@example.com', 'xhttps://example.com', 'https://www2example.com']);
        case 4: return 'x";}s:3:"y' . url() . '";}';
        case 5: return '';
        case 6: return urlencode(url());
        case 7: return '<a href="' . url() . '">' . pick(['link', 'línk', '링크']) . '</a> <img src="' . url() . '">';
        case 8: return "multi\nline\ttext\\ with " . url() . "\0nul";
        case 9: return $depth < 4 ? serialize(value($depth + 1)) : url();
        case 10: return str_repeat('é', mt_rand(0, 5)) . url();
        case 11: return "\xff\xfe binary " . url() . "\x80";
        case 12: return 'https:\\/\\/example.com\\/x and \\/\\/www.example.com';
        // JSON inside JSON (page builders, plugin exports): slashes escaped at every depth.
        case 13: return json_encode(['el' => json_encode(['url' => url(), 'img' => [url()]])]);
        case 14: return json_encode([json_encode([json_encode(url() . ' ' . url())])]);
        case 15: return json_encode(['a' => json_encode(['u' => url()])], JSON_UNESCAPED_SLASHES);
        case 16: return str_replace('\\/', '\\u002F', json_encode(['u' => url(), 'p' => 'https://example.com/x']));
        case 17: return json_encode(['x' => str_replace('\\/', '\\u002f', json_encode(['u' => url()]))]);
        case 18: return pick(['https:\\u002F\\u002Fexample.com\\u002Eevil.org', 'https%3A%2F%2Fexample.com%2Eevil.org',
            'https:\\\\\\/\\\\\\/xexample.com', 'https:\\\\\\\\\\\\\\/\\\\\\\\\\\\\\/example.com.au']);
        default: return 'plain text ' . mt_rand();
    }
}
function value($depth) {
    switch (mt_rand(0, $depth > 3 ? 5 : 11)) {
        case 0: case 1: case 2: return text($depth);
        case 3: return mt_rand(-1000, 1000);
        case 4: return pick([0.1, -2.5e30, 1.0, true, false, null, 3]);
        case 5: return serialize(text($depth + 1));
        case 6: case 7:
            $a = [];
            $n = mt_rand(0, 4);
            for ($i = 0; $i < $n; $i++) { $a[pick([$i, -$i, 'k' . $i, url()])] = value($depth + 1); }
            return $a;
        case 8: return new WidgetConfig(text($depth), url(), [value($depth + 1), value($depth + 1)]);
        case 9:
            $o = new stdClass;
            $o->home = url();
            $o->{'with space'} = value($depth + 1);
            return $o;
        case 10:
            $h = new Plain_Holder;
            $h->a = value($depth + 1);
            $x = ['first' => url(), 'obj' => $h];
            $x['again'] = $h;
            $x['ref'] = &$x['first'];
            return $x;
        default: return serialize(value($depth + 1));
    }
}
for ($i = 0; $i < (int)$argv[2]; $i++) { echo bin2hex(serialize(value(0))), "\n"; }
"#;

const PHP_VERIFY: &str = r#"
function rx(string $pattern, string $replacement, string $s): string {
    return preg_replace_callback($pattern, function ($m) use ($replacement) { return $replacement; }, $s);
}
const H = '(?:www\.)?example\.com';
// The host ends: no label byte, `.label`, port, or an escaped dot (`%2E`, `\u002E`) follows.
const B = '(?![A-Za-z0-9_\-]|\.[A-Za-z0-9_\-]|:[0-9]|%3[Aa][0-9]|%2[Ee]|\\\\+u002[Ee])';
const S = '(?<![A-Za-z0-9+.\-])(?i:https?)';
const T = 'staging.example.com';
// Escaped slashes (`$tok`: any run of backslashes before `/` or `u002F`, as JSON nested at any
// depth writes them), both slashes spelled alike and kept in the replacement.
function escaped(string $tok, string $s): string {
    $s = preg_replace_callback('~' . S . ':(' . $tok . ')\1' . H . B . '~',
        function ($m) { return 'https:' . $m[1] . $m[1] . T; }, $s);
    // Protocol-relative: not after `:` or another backslash, and not after the same slash again.
    return preg_replace_callback('~(?<![:\\\\])(' . $tok . ')\1' . H . B . '~',
        function ($m) use ($s) {
            if (str_ends_with(substr($s, 0, $m[0][1]), $m[1][0])) { return $m[0][0]; }
            return $m[1][0] . $m[1][0] . T;
        }, $s, -1, $count, PREG_OFFSET_CAPTURE);
}
// An independent statement of the rules: example.com and www.example.com -> staging.example.com.
function oracle_text(string $s): string {
    $s = rx('~' . S . '://' . H . B . '~', 'https://' . T, $s);
    $s = escaped('\\\\+/', $s);
    $s = escaped('\\\\+u002[Ff]', $s);
    $s = rx('~' . S . '%3A%2F%2F' . H . B . '~', 'https%3A%2F%2F' . T, $s);
    $s = rx('~(?<![:/])//' . H . B . '~', '//' . T, $s);
    $s = rx('~(?<!%3A)(?<!%2F)%2F%2F' . H . B . '~', '%2F%2F' . T, $s);
    return $s;
}
function walk(&$v, SplObjectStorage $seen) {
    if (is_string($v)) {
        $v = oracle_string($v);
    } elseif (is_array($v)) {
        foreach ($v as $k => &$x) { walk($x, $seen); }
        unset($x);
    } elseif (is_object($v)) {
        if ($seen->contains($v)) { return; }
        $seen->attach($v);
        foreach ((new ReflectionObject($v))->getProperties() as $p) {
            $p->setAccessible(true);
            if (!$p->isInitialized($v)) { continue; }
            $val = $p->getValue($v);
            walk($val, $seen);
            $p->setValue($v, $val);
        }
    }
}
function oracle_string(string $s): string {
    $u = @unserialize($s);
    if (($u !== false || $s === 'b:0;') && serialize($u) === $s) {
        walk($u, new SplObjectStorage);
        return serialize($u);
    }
    return oracle_text($s);
}
$count = 0; $changed = 0; $failed = 0;
while (($line = fgets(STDIN)) !== false) {
    $line = trim($line);
    if ($line === '') { continue; }
    [$a, $b] = explode(' ', $line);
    $orig = hex2bin($a);
    $ours = hex2bin($b);
    $count++;
    if (@unserialize($ours) === false && $ours !== 'b:0;') {
        $failed++;
        echo "UNSERIALIZE FAILED #$count\n  ours: ", json_encode($ours, JSON_INVALID_UTF8_SUBSTITUTE), "\n";
        continue;
    }
    $expected = oracle_string($orig);
    if ($expected !== $ours) {
        $failed++;
        echo "MISMATCH #$count\n  orig: ", json_encode($orig, JSON_INVALID_UTF8_SUBSTITUTE),
            "\n  ours: ", json_encode($ours, JSON_INVALID_UTF8_SUBSTITUTE),
            "\n  php:  ", json_encode($expected, JSON_INVALID_UTF8_SUBSTITUTE), "\n";
    }
    if ($ours !== $orig) { $changed++; }
}
echo "checked $count changed $changed failed $failed\n";
exit($failed > 0 ? 1 : 0);
"#;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex from php"))
        .collect()
}

fn write_script(dir: &std::path::Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("<?php\n{PHP_CLASSES}\n{body}")).unwrap();
    path
}

fn php(args: &[&std::ffi::OsStr], stdin: &[u8]) -> std::process::Output {
    let mut child = match Command::new("php")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!(
            "the PHP oracle test needs `php` on PATH ({e}); on Debian: apt-get install -y php-cli"
        ),
    };
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    out
}

#[test]
fn php_oracle_agrees_with_rewrite_value() {
    let dir = std::env::temp_dir().join(format!("understudy-php-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gen = write_script(&dir, "gen.php", PHP_GENERATE);
    let verify = write_script(&dir, "verify.php", PHP_VERIFY);
    let rw = Rewriter::new(
        &[
            Rule::parse("https://example.com", "https://staging.example.com").unwrap(),
            Rule::parse("https://www.example.com", "https://staging.example.com").unwrap(),
        ],
        Options::default(),
    );
    let mut pairs = String::new();
    let (mut total, mut changed) = (0, 0);
    for seed in ["1", "2", "3"] {
        let out = php(&[gen.as_os_str(), seed.as_ref(), "150".as_ref()], b"");
        assert!(
            out.status.success(),
            "generator failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let original = unhex(line);
            let outcome = rw.rewrite_value(&original);
            assert!(
                !outcome.malformed,
                "PHP's own output flagged malformed: {line}"
            );
            total += 1;
            changed += usize::from(outcome.changed());
            pairs.push_str(&format!("{line} {}\n", hex(&outcome.value)));
        }
    }
    let out = php(&[verify.as_os_str()], pairs.as_bytes());
    let report = String::from_utf8_lossy(&out.stdout);
    std::fs::remove_dir_all(&dir).ok();
    println!("{report}");
    assert!(
        out.status.success(),
        "PHP oracle disagrees:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains(&format!("checked {total} changed {changed} failed 0")),
        "{report}"
    );
    assert_eq!(total, 450);
    assert!(
        changed > total / 3,
        "too few values exercised a rewrite: {changed}/{total}"
    );
}
