//! A one-document `kind: List` file is loaded item by item (each item
//! parsed on its own); the result must be exactly that of parsing the file
//! whole. A trailing `# &` comment makes the loader take the whole-file
//! path (an `&` anywhere declines the cut) without changing the meaning
//! or the line numbers, so each case is loaded both ways and compared.

use metallb_api::{load_str, Options};

fn both_ways(text: &str) {
    let opts = Options::default();
    let cut = load_str(text, "list.yaml", &opts);
    let whole = load_str(&format!("{text}# &\n"), "list.yaml", &opts);
    assert_eq!(cut, whole, "for:\n{text}");
}

/// Shared with the unit tests of the cut, which check that these files
/// are cut (so that both paths really run).
const POOL_ITEM: &str = "- apiVersion: metallb.io/v1beta1
  kind: IPAddressPool
  metadata: {name: p, namespace: metallb-system}
  spec:
    addresses:
    - 192.0.2.0/24
";

#[test]
fn the_kubectl_output_loads_the_same_cut_or_whole() {
    let text = data("kubectl-service.yaml");
    assert!(load_str(&text, "list.yaml", &Options::default()).is_ok());
    both_ways(&text);
}

fn data(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

#[test]
fn indented_items_comments_block_scalars_and_flow_items_load_the_same() {
    let text = data("list-indented.yaml");
    let objects = load_str(&text, "list.yaml", &Options::default()).unwrap();
    assert_eq!(
        (
            objects.services.len(),
            objects.namespaces.len(),
            objects.nodes.len()
        ),
        (2, 1, 1)
    );
    both_ways(&text);
    both_ways(&format!("apiVersion: v1\nitems:\n{POOL_ITEM}kind: List\n"));
}

#[test]
fn errors_in_items_are_the_same_cut_or_whole() {
    // Misspelt field, duplicate, nested List, not a mapping, unknown kind.
    let text = data("list-errors.yaml");
    let errs = load_str(&text, "list.yaml", &Options::default()).unwrap_err();
    assert_eq!(errs.errors.len(), 5, "{errs}");
    both_ways(&text);
}

#[test]
fn a_syntax_error_in_an_item_gives_the_whole_file_error() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a\n- apiVersion: v1\n  kind: Service\n  metadata: {name: b}\n";
    let errs = load_str(text, "list.yaml", &Options::default()).unwrap_err();
    assert!(
        errs.errors[0]
            .to_string()
            .starts_with("list.yaml doc 1: invalid YAML:"),
        "{}",
        errs.errors[0]
    );
    both_ways(text);
}

#[test]
fn a_document_that_is_not_a_list_but_has_items_loads_the_same() {
    both_ways("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nitems:\n- a: 1\n");
    both_ways(
        "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: c}\nitems:\n- a: 1\n",
    );
}

#[test]
fn crlf_line_endings_load_the_same() {
    let text = format!("apiVersion: v1\nkind: List\nitems:\n{POOL_ITEM}").replace('\n', "\r\n");
    assert!(load_str(&text, "list.yaml", &Options::default()).is_ok());
    both_ways(&text);
}
