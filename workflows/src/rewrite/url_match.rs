//! Boundary-safe search and replace of production origins in every spelling a WordPress database
//! uses.
//!
//! This file owns the search: candidates are found with one `memmem` search per distinct host (so
//! text without any occurrence costs a SIMD scan and no allocation), each candidate is checked
//! against the rules with the grammar of `url_grammar` (what stands before the host, where the
//! host, port and path prefix end, subdomains, bare hosts), overlapping candidates are resolved
//! earliest-first, and the staging spelling is written back in the source's encoding (plain,
//! JSON-escaped `\/` at the depth found, unicode-escaped `\u002F`, percent-encoded `%2F`). It
//! knows nothing about PHP serialization or dumps.

use memchr::memmem::Finder;

use super::rule::{is_label_byte, Options, Rule, Scheme, SchemeMapping};
use super::url_grammar::{
    classify_prefix, colon_at, host_ends, path_ends, port_follows, slash_at, Lead, Prefix, Spelling,
};

/// One accepted occurrence.
struct Found {
    start: usize,
    end: usize,
    /// Where the subdomain labels start (`== host` when there are none).
    sub: usize,
    host: usize,
    lead: Lead,
    spelling: Spelling,
    rule: usize,
}

struct CompiledRule {
    host: Vec<u8>,
    port: Option<Vec<u8>>,
    path: Vec<u8>,
    to_scheme: Scheme,
    to_host: Vec<u8>,
    to_port: Option<Vec<u8>>,
    to_path: Vec<u8>,
}

/// All rules compiled for fast search. Cheap to share between threads.
pub(crate) struct UrlMatcher {
    rules: Vec<CompiledRule>,
    /// One finder per distinct host, with the indices of its rules, most specific first.
    needles: Vec<(Finder<'static>, Vec<usize>)>,
    options: Options,
}

impl UrlMatcher {
    pub(crate) fn new(rules: &[Rule], options: Options) -> UrlMatcher {
        let compiled: Vec<CompiledRule> = rules
            .iter()
            .map(|r| CompiledRule {
                host: r.from.host().as_bytes().to_vec(),
                port: r.from.port().map(|p| p.to_string().into_bytes()),
                path: r.from.path().as_bytes().to_vec(),
                to_scheme: r.to.scheme(),
                to_host: r.to.host().as_bytes().to_vec(),
                to_port: r.to.port().map(|p| p.to_string().into_bytes()),
                to_path: r.to.path().as_bytes().to_vec(),
            })
            .collect();
        let mut needles: Vec<(Finder<'static>, Vec<usize>)> = Vec::new();
        for (i, rule) in compiled.iter().enumerate() {
            match needles
                .iter_mut()
                .find(|(f, _)| f.needle() == rule.host.as_slice())
            {
                Some((_, idx)) => idx.push(i),
                None => needles.push((Finder::new(&rule.host).into_owned(), vec![i])),
            }
        }
        for (_, idx) in &mut needles {
            // Most specific first: explicit port, then longer path; otherwise keep rule order.
            idx.sort_by_key(|&i| {
                let r = &compiled[i];
                (r.port.is_none(), std::cmp::Reverse(r.path.len()))
            });
        }
        UrlMatcher {
            rules: compiled,
            needles,
            options,
        }
    }

    /// The distinct hosts the rules look for (every rewrite contains one of them verbatim).
    pub(crate) fn hosts(&self) -> Vec<String> {
        self.needles
            .iter()
            .map(|(f, _)| String::from_utf8_lossy(f.needle()).into_owned())
            .collect()
    }

    /// Whether any rule's host occurs in `hay` (a necessary condition for any rewrite).
    pub(crate) fn has_candidate(&self, hay: &[u8]) -> bool {
        self.needles.iter().any(|(f, _)| f.find(hay).is_some())
    }

    /// Appends `hay` to `out` with every accepted occurrence rewritten; returns how many.
    pub(crate) fn replace_into(&self, hay: &[u8], out: &mut Vec<u8>) -> usize {
        let find_from = |n: usize, from: usize| -> Option<usize> {
            self.needles[n].0.find(&hay[from..]).map(|i| i + from)
        };
        let mut next: Vec<Option<usize>> =
            (0..self.needles.len()).map(|n| find_from(n, 0)).collect();
        let mut cursor = 0;
        let mut count = 0;
        while let Some((n, h)) = earliest(&next) {
            let found = self.needles[n]
                .1
                .iter()
                .find_map(|&r| self.match_at(hay, h, r).filter(|f| f.start >= cursor));
            match found {
                Some(f) => {
                    out.extend_from_slice(&hay[cursor..f.start]);
                    self.write_replacement(hay, &f, out);
                    cursor = f.end;
                    count += 1;
                    for (i, slot) in next.iter_mut().enumerate() {
                        if matches!(*slot, Some(p) if p < cursor) {
                            *slot = find_from(i, cursor);
                        }
                    }
                }
                None => next[n] = find_from(n, h + 1),
            }
        }
        out.extend_from_slice(&hay[cursor..]);
        count
    }

    /// Tries rule `ri` for the host occurrence at `h`.
    fn match_at(&self, hay: &[u8], h: usize, ri: usize) -> Option<Found> {
        let rule = &self.rules[ri];
        let (start, lead, spelling, sub) = self.lead_at(hay, h)?;
        let subdomain = sub < h;
        if subdomain && !rule.path.is_empty() {
            return None;
        }
        let mut e = h + rule.host.len();
        match &rule.port {
            Some(port) => {
                e = colon_at(hay, e, spelling)?;
                if !hay[e..].starts_with(port) {
                    return None;
                }
                e += port.len();
                if hay.get(e).is_some_and(u8::is_ascii_digit) {
                    return None;
                }
            }
            None => {
                if port_follows(hay, e) || !host_ends(hay, e) {
                    return None;
                }
            }
        }
        if !subdomain && !rule.path.is_empty() {
            for &b in &rule.path {
                e = if b == b'/' {
                    slash_at(hay, e, spelling)?
                } else if hay.get(e) == Some(&b) {
                    e + 1
                } else {
                    return None;
                };
            }
            if !path_ends(hay, e) {
                return None;
            }
        }
        Some(Found {
            start,
            end: e,
            sub,
            host: h,
            lead,
            spelling,
            rule: ri,
        })
    }

    /// Finds what stands before the host at `h`: `(match start, lead, spelling, subdomain start)`.
    fn lead_at(&self, hay: &[u8], h: usize) -> Option<(usize, Lead, Spelling, usize)> {
        match classify_prefix(hay, h) {
            Prefix::Url(start, lead, sp) => return Some((start, lead, sp, h)),
            Prefix::Reject => return None,
            Prefix::None => {}
        }
        match h.checked_sub(1).map(|i| hay[i]) {
            Some(b'.') if self.options.include_subdomains => self.subdomain_lead(hay, h),
            Some(b) if is_label_byte(b) || b == b'.' => None,
            _ => self.bare_lead(hay, h),
        }
    }

    /// The host at `h` follows a dot: walk back over the subdomain labels.
    fn subdomain_lead(&self, hay: &[u8], h: usize) -> Option<(usize, Lead, Spelling, usize)> {
        let mut s0 = h - 1;
        while s0 > 0 && (is_label_byte(hay[s0 - 1]) || hay[s0 - 1] == b'.') {
            s0 -= 1;
        }
        while s0 < h && hay[s0] == b'.' {
            s0 += 1;
        }
        if s0 >= h {
            return None;
        }
        // `%2F%2Fcdn.host` / `\u002F\u002Fcdn.host`: the walk also swallowed the hex digits of
        // the last `%2F`, or the `u002F` of the last unicode-escaped slash.
        let shifted = match s0.checked_sub(1).map(|i| hay[i]) {
            Some(b'%') if s0 + 2 < h => Some(s0 + 2),
            Some(b'\\')
                if s0 + 5 < h
                    && hay[s0] == b'u'
                    && hay[s0 + 1..s0 + 5].eq_ignore_ascii_case(b"002f") =>
            {
                Some(s0 + 5)
            }
            _ => None,
        };
        for s in std::iter::once(s0).chain(shifted) {
            match classify_prefix(hay, s) {
                Prefix::Url(start, lead, sp) => return Some((start, lead, sp, s)),
                Prefix::Reject => return None,
                Prefix::None => {}
            }
        }
        self.bare_lead(hay, s0)
    }

    fn bare_lead(&self, hay: &[u8], s: usize) -> Option<(usize, Lead, Spelling, usize)> {
        if !self.options.bare_host {
            return None;
        }
        if let Some(&b) = s.checked_sub(1).and_then(|i| hay.get(i)) {
            if is_label_byte(b) || matches!(b, b'.' | b'@' | b'/' | b'\\' | b'%') {
                return None;
            }
        }
        Some((s, Lead::Bare, Spelling::Plain, s))
    }

    fn write_replacement(&self, hay: &[u8], f: &Found, out: &mut Vec<u8>) {
        let rule = &self.rules[f.rule];
        let sp = f.spelling;
        match f.lead {
            Lead::Scheme(source) => {
                let scheme = match self.options.scheme {
                    SchemeMapping::Target => rule.to_scheme,
                    SchemeMapping::Preserve => source,
                };
                out.extend_from_slice(scheme.as_str().as_bytes());
                out.extend_from_slice(sp.colon());
                sp.push_slash(out);
                sp.push_slash(out);
            }
            Lead::Relative => {
                sp.push_slash(out);
                sp.push_slash(out);
            }
            Lead::Bare => {}
        }
        out.extend_from_slice(&hay[f.sub..f.host]);
        out.extend_from_slice(&rule.to_host);
        if let Some(port) = &rule.to_port {
            out.extend_from_slice(sp.colon());
            out.extend_from_slice(port);
        }
        if f.sub == f.host {
            for &b in &rule.to_path {
                if b == b'/' {
                    sp.push_slash(out);
                } else {
                    out.push(b);
                }
            }
        }
    }
}

/// The needle with the earliest pending hit: `(needle index, position)`.
fn earliest(next: &[Option<usize>]) -> Option<(usize, usize)> {
    next.iter()
        .enumerate()
        .filter_map(|(n, h)| h.map(|h| (n, h)))
        .min_by_key(|&(_, h)| h)
}
