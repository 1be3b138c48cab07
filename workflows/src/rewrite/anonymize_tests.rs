//! Tests of the anonymization hooks of the rewrite module: literal pairs inside serialized and
//! JSON values (lengths fixed, URL behaviour unchanged), and row maps in both dump adapters
//! (whole fields replaced, NULLs and other tables untouched, protected rows still mapped).

use std::borrow::Cow;
use std::sync::Arc;

use super::rule::{Options, Rule};
use super::{
    Boundary, Literals, MysqlDumpRewriter, PgCopyRewriter, Policy, Replacement, Rewriter, RowMap,
    TableMap,
};

fn rewriter() -> Rewriter {
    let mut literals = Literals::builder();
    literals.add(b"fan@mail.test", b"user-1@example.invalid", Boundary::Email);
    literals.add(b"81.2.69.142", b"192.0.2.7", Boundary::Number);
    Rewriter::new(
        &[Rule::parse("https://example.com", "https://staging.example.com").unwrap()],
        Options::default(),
    )
    .with_literals(Arc::new(literals.build().unwrap()))
}

fn ser(s: &str) -> String {
    format!("s:{}:\"{s}\";", s.len())
}

#[test]
fn literals_are_replaced_inside_nested_serialized_values_with_lengths_fixed() {
    let rw = rewriter();
    let inner = format!(
        "a:2:{{{}{}{}{}}}",
        ser("to"),
        ser("Fan <fan@mail.test>"),
        ser("ip"),
        ser("81.2.69.142")
    );
    let value = format!(
        "a:2:{{{}{}{}{}}}",
        ser("inner"),
        ser(&inner),
        ser("home"),
        ser("https://example.com/x")
    );
    let out = rw.rewrite_value(value.as_bytes());
    assert_eq!((out.replacements, out.literal_replacements), (1, 2));
    let expected_inner = format!(
        "a:2:{{{}{}{}{}}}",
        ser("to"),
        ser("Fan <user-1@example.invalid>"),
        ser("ip"),
        ser("192.0.2.7")
    );
    let expected = format!(
        "a:2:{{{}{}{}{}}}",
        ser("inner"),
        ser(&expected_inner),
        ser("home"),
        ser("https://staging.example.com/x")
    );
    assert_eq!(String::from_utf8(out.value.into_owned()).unwrap(), expected);

    let json =
        r#"{"email":"FAN@mail.test","site":"https:\/\/example.com","other":"jimfan@mail.test"}"#;
    let out = rw.rewrite_value(json.as_bytes());
    assert_eq!(
        String::from_utf8(out.value.into_owned()).unwrap(),
        r#"{"email":"user-1@example.invalid","site":"https:\/\/staging.example.com","other":"jimfan@mail.test"}"#
    );
    let plain = Rewriter::new(&[], Options::default());
    assert!(
        !plain.may_contain_match(b"fan@mail.test"),
        "no literals, no work"
    );
}

/// Replaces column `email` of table `*_people` with `x`, unless `keep` is 1.
struct People;
struct PeopleTable {
    email: usize,
    keep: usize,
}

impl RowMap for People {
    fn wants(&self, table: &str) -> bool {
        table.ends_with("_people")
    }
    fn table(&self, _table: &str, columns: &[String]) -> Option<Box<dyn TableMap>> {
        let index = |n: &str| columns.iter().position(|c| c == n);
        Some(Box::new(PeopleTable {
            email: index("email")?,
            keep: index("keep")?,
        }))
    }
}

impl TableMap for PeopleTable {
    fn map_row(&self, field: &mut dyn FnMut(usize) -> Option<Vec<u8>>, out: &mut Vec<Replacement>) {
        if field(self.keep).as_deref() == Some(b"1") {
            return;
        }
        if field(self.email).is_some() {
            out.push(Replacement {
                column: self.email,
                value: b"x\ty'z".to_vec(),
                location: Cow::Borrowed("people.email"),
            });
        }
    }
}

#[test]
fn pg_copy_applies_the_row_map_before_the_rewriter() {
    let input = "COPY public.wp_people (id, email, keep, note) FROM stdin;\n\
                 1\tfan@mail.test\t0\tsee fan@mail.test\n\
                 2\tfan@mail.test\t1\tplain\n\
                 3\t\\N\t0\tplain\n\
                 \\.\n\
                 COPY public.wp_other (id, email, keep) FROM stdin;\n\
                 1\tfan@mail.test\t0\n\
                 \\.\n";
    let (rw, policy) = (
        rewriter(),
        Policy::wordpress().skip_rows("_people", "id", ["1"]),
    );
    let mut out = Vec::new();
    let stats = PgCopyRewriter::new(&rw, &policy)
        .with_row_map(&People)
        .run(input.as_bytes(), &mut out)
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("1\tx\\ty'z\t0\tsee fan@mail.test\n"),
        "protected row: mapped, not rewritten: {out}"
    );
    assert!(
        out.contains("2\tuser-1@example.invalid\t1\tplain\n"),
        "{out}"
    );
    assert!(out.contains("3\t\\N\t0\tplain\n"), "{out}");
    assert!(
        out.contains("1\tuser-1@example.invalid\t0\n"),
        "other tables: literals only: {out}"
    );
    assert_eq!(stats.mapped["public.wp_people"]["people.email"], 1);
    assert_eq!(stats.tables["public.wp_people"].values_mapped, 1);
    assert_eq!(stats.total().literal_replacements, 2);
}

#[test]
fn mysqldump_applies_the_row_map_before_the_rewriter() {
    let input = "CREATE TABLE `wp_people` (\n  `id` int NOT NULL,\n  `email` varchar(100),\n  `keep` int,\n  `note` text\n);\n\
                 INSERT INTO `wp_people` VALUES (1,'fan@mail.test',0,'see fan@mail.test'),(2,'fan@mail.test',1,'plain'),(3,NULL,0,'x');\n";
    let (rw, policy) = (rewriter(), Policy::wordpress());
    let mut out = Vec::new();
    let stats = MysqlDumpRewriter::new(&rw, &policy)
        .with_row_map(&People)
        .run(input.as_bytes(), &mut out)
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("VALUES (1,'x\ty\\'z',0,'see user-1@example.invalid'),(2,'user-1@example.invalid',1,'plain'),(3,NULL,0,'x');"),
        "{out}"
    );
    assert_eq!(stats.mapped["wp_people"]["people.email"], 1);
    assert_eq!(stats.total().literal_replacements, 2);

    let no_columns = "INSERT INTO `wp_people` VALUES (1,'a',0,'b');\n";
    let err = MysqlDumpRewriter::new(&rw, &policy)
        .with_row_map(&People)
        .run(no_columns.as_bytes(), &mut Vec::new())
        .unwrap_err();
    assert!(err.to_string().contains("column order"), "{err}");
}
