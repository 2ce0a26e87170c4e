//! `lockdep html`: one self-contained page (no scripts, no external files) showing a report
//! directory: per report its headline, summary, hint and full text, and the classes it is
//! about drawn as inline SVG — for a cycle, the classes on a circle with an arrow per
//! dependency.

use crate::load::ReportDoc;
use std::f64::consts::PI;
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The classes of a report as nodes, and its edges (index pairs).
fn shape(doc: &serde_json::Value) -> (Vec<String>, Vec<(usize, usize)>) {
    let mut classes: Vec<String> = doc["classes"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    // A cycle's classes are listed once each, in cycle order.
    if doc["kind"] == "circular_dependency" && classes.len() > 1 {
        if classes.first() == classes.last() {
            classes.pop();
        }
        let n = classes.len();
        return (classes, (0..n).map(|i| (i, (i + 1) % n)).collect());
    }
    let edges = if classes.len() == 2 && !doc["holding"].is_null() {
        vec![(0, 1)]
    } else {
        Vec::new()
    };
    (classes, edges)
}

/// The picture: nodes on a circle, arrows between them.
pub fn svg(classes: &[String], edges: &[(usize, usize)]) -> String {
    let n = classes.len().max(1);
    let (w, h) = (560.0, if n == 1 { 120.0 } else { 360.0 });
    let (cx, cy, r) = (w / 2.0, h / 2.0, if n == 1 { 0.0 } else { 130.0 });
    let pos: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let a = -PI / 2.0 + 2.0 * PI * i as f64 / n as f64;
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect();
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"14\" markerHeight=\"14\" orient=\"auto\">\
         <path d=\"M0,0 L10,5 L0,10 z\" fill=\"#c0392b\"/></marker></defs>"
    );
    let (bw, bh) = (150.0, 30.0);
    for &(a, b) in edges {
        let ((x1, y1), (x2, y2)) = (pos[a], pos[b]);
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        // Stop at the box edge: scale so the end point leaves the target box.
        let t =
            (((bw / 2.0) / dx.abs().max(1e-9)).min((bh / 2.0) / dy.abs().max(1e-9)) + 6.0 / len).min(0.45);
        // Shifted to its right-hand side, so the two edges of a two-lock cycle stay apart.
        let (ox, oy) = (-dy / len * 10.0, dx / len * 10.0);
        let _ = write!(
            out,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#c0392b\" stroke-width=\"2\" marker-end=\"url(#arrow)\"/>",
            x1 + dx * t + ox,
            y1 + dy * t + oy,
            x2 - dx * t + ox,
            y2 - dy * t + oy
        );
    }
    for (i, c) in classes.iter().enumerate() {
        let (x, y) = pos[i];
        let label: String = if c.chars().count() > 22 {
            format!(
                "…{}",
                c.chars()
                    .rev()
                    .take(21)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<String>()
            )
        } else {
            c.clone()
        };
        let _ = write!(
            out,
            "<g><title>{}</title><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bw}\" height=\"{bh}\" rx=\"6\" fill=\"#fdf2e9\" stroke=\"#7f8c8d\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-family=\"monospace\" font-size=\"12\">{}</text></g>",
            esc(c),
            x - bw / 2.0,
            y - bh / 2.0,
            y + 4.0,
            esc(&label)
        );
    }
    out.push_str("</svg>");
    out
}

pub fn render(dir: &std::path::Path, reports: &[ReportDoc]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lockdep reports: {}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:70em}}section{{border-top:2px solid #ccc;padding:1em 0}}\
         pre{{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:12px}}.hint{{color:#8e44ad}}.summary{{font-family:monospace}}</style>\
         </head><body>\n<h1>lockdep reports</h1>\n<p>{} report{} in <code>{}</code></p>\n",
        esc(&dir.display().to_string()),
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        esc(&dir.display().to_string())
    );
    for (i, r) in reports.iter().enumerate() {
        let d = &r.doc;
        let (classes, edges) = shape(d);
        let _ = write!(
            out,
            "<section id=\"r{i}\"><h2>{}</h2><p class=\"summary\">{}</p>",
            esc(d["headline"].as_str().unwrap_or("")),
            esc(d["summary"].as_str().unwrap_or(""))
        );
        if let Some(h) = d["hint"].as_str() {
            let _ = write!(out, "<p class=\"hint\">hint: {}</p>", esc(h));
        }
        if !classes.is_empty() {
            out.push_str(&svg(&classes, &edges));
        }
        let _ = writeln!(
            out,
            "<p><code>{}</code></p><pre>{}</pre></section>",
            esc(&r
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()),
            esc(d["text"].as_str().unwrap_or(""))
        );
    }
    if reports.is_empty() {
        out.push_str("<p>No reports: nothing was found.</p>\n");
    }
    out.push_str("</body></html>\n");
    out
}
