//! `matrix` on the example reports: one column per registry, every case a row under its
//! workflow, outcomes coloured, features summarised, nothing fetched from elsewhere. The script
//! itself runs in a real browser in CI (.ci/matrix-browser.sh).

use std::path::{Path, PathBuf};
use std::process::Command;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("reports/examples")
        .join(name)
        .join("results.json")
}

fn matrix(args: &[&str]) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oci-conformance"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OCI_CONFORMANCE_") {
            c.env_remove(k);
        }
    }
    let out = c.arg("matrix").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ids(path: &Path) -> Vec<(String, String, String)> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["workflow"].as_str().unwrap().to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn example_reports_make_one_page_with_a_column_per_registry() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("out/matrix.html");
    let reference = example("reference-server");
    let distribution = example("distribution-2.8");
    // A third registry that ran only the pull cases, under a hostile name.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&reference).unwrap()).unwrap();
    let mut partial = v.clone();
    partial["cases"] = serde_json::Value::Array(
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["workflow"] == "pull")
            .cloned()
            .collect(),
    );
    let partial_path = dir.path().join("partial.json");
    std::fs::write(&partial_path, serde_json::to_vec(&partial).unwrap()).unwrap();
    let (code, err) = matrix(&[
        reference.to_str().unwrap(),
        distribution.to_str().unwrap(),
        partial_path.to_str().unwrap(),
        "--label",
        "reference-server,distribution-2.8,<b>pull-only</b>",
        "--output",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    // Self-contained: no external script, style, image or font.
    for bad in ["src=", "href=\"http", "@import", "url("] {
        assert!(!html.contains(bad), "external asset: {bad}");
    }
    let matrix = &html[html.find("<table id=\"matrix\">").unwrap()..];
    let head = &matrix[..matrix.find("</thead>").unwrap()];
    let columns: Vec<&str> = head.split("<th class=\"reg\"").skip(1).collect();
    assert_eq!(columns.len(), 3, "one column per registry");
    assert!(columns[1].contains(">distribution-2.8<br>"));
    assert!(
        columns[2].contains(">&lt;b&gt;pull-only&lt;/b&gt;<br>"),
        "labels are escaped: {}",
        columns[2]
    );
    assert!(!html.contains("<b>pull-only"));

    // Every case is a row, in its workflow's group, with one cell per registry.
    let row_re =
        regex::Regex::new(r#"<tr class="case" data-level="(MUST|SHOULD|MAY)" data-workflow="(\w+)" data-differs="([01])"><td title="[^"]*">([^<]+)</td><td class="lvl">\w+</td>((?:<td class="c [^"]+" title="[^"]*">[^<]+</td>){3})</tr>"#)
            .unwrap();
    let rows: Vec<_> = row_re.captures_iter(matrix).collect();
    let expected = ids(&reference);
    assert_eq!(rows.len(), expected.len(), "one row per case");
    let dist: std::collections::HashMap<String, String> = ids(&distribution)
        .into_iter()
        .map(|(i, _, o)| (i, o))
        .collect();
    let cell_re =
        regex::Regex::new(r#"<td class="c (o-[a-z]+)" title="[^"]*">([^<]+)</td>"#).unwrap();
    for (id, workflow, outcome) in &expected {
        let row = rows
            .iter()
            .find(|r| &r[4] == id)
            .unwrap_or_else(|| panic!("no row for {id}"));
        assert_eq!(&row[2], workflow, "{id}");
        let cells: Vec<_> = cell_re.captures_iter(&row[5]).collect();
        assert_eq!(&cells[0][2], outcome, "{id}");
        assert_eq!(&cells[1][2], &dist[id], "{id}");
        if workflow == "pull" {
            assert_eq!(&cells[2][2], outcome, "{id}");
        } else {
            assert_eq!((&cells[2][1], &cells[2][2]), ("o-absent", "—"), "{id}");
        }
    }
    let chunked = rows
        .iter()
        .find(|r| &r[4] == "push/chunked/out-of-order-416")
        .unwrap();
    assert!(
        chunked[5].contains("o-fail") && &chunked[3] == "1",
        "{}",
        &chunked[0]
    );
    // Workflow groups come in the spec's order.
    let groups: Vec<&str> = matrix
        .split("<tbody data-workflow=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(groups, ["pull", "push", "discovery", "management"]);
    // Requirement rows carry a filterable level.
    assert!(matrix.contains("<tr class=\"req\" data-level=\"MUST\" data-workflow=\"push\""));

    // The chart: one bar label per registry, before the tables.
    let chart = &html[html.find("<svg").unwrap()..html.find("</svg>").unwrap()];
    assert!(
        html.find("<svg").unwrap() < html.find("<table").unwrap(),
        "summary first"
    );
    assert_eq!(chart.matches("text-anchor=\"end\"").count(), 3);
    assert!(
        chart.contains("34 fail") || chart.contains(" fail · "),
        "{chart}"
    );
    // Features: distribution 2.8.2 has no referrers API.
    let features = &html[html.find("<table id=\"features\">").unwrap()..];
    let referrers = &features[features.find("<td>referrers</td>").unwrap()..];
    let referrers = &referrers[..referrers.find("</tr>").unwrap()];
    assert!(
        referrers.ends_with(
            "<td class=\"c o-pass\">supported</td><td class=\"c o-unsupported\">unsupported</td>\
             <td class=\"c o-skip\">not tested</td>"
        ),
        "{referrers}"
    );
    // The marker the browser check waits for starts unset: only the script sets it.
    assert!(html.contains("<body data-matrix-ready=\"0\">"));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.html");
    let (code, err) = matrix(&["nope.json", "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let r = example("reference-server");
    let (code, err) = matrix(&[
        r.to_str().unwrap(),
        "--label",
        "a,b",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("labels"), "{err}");
    assert!(!out.exists());
}
