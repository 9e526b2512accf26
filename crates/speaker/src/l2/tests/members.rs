//! A changed member list (the speaker Pods in `kubernetes` mode) reaching
//! a running node: what `check_change` lets through.

use super::*;

fn secret_args(dir: &tempfile::TempDir) -> L2Args {
    let path = dir.path().join("secret");
    std::fs::write(&path, "s3cret\n").unwrap();
    L2Args {
        ml_secret_file: Some(path),
        ..L2Args::default()
    }
}

#[test]
fn a_joining_member_is_accepted_with_the_secret_the_node_started_with() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(secret_args(&dir), "n1");
    let have = parse_members("n1=192.0.2.1").unwrap();
    let new = parse_members("n1=192.0.2.1,n2=192.0.2.2,n3=192.0.2.3").unwrap();
    assert_eq!(rt.check_change(&have, &new), Ok(Vec::new()));
}

#[test]
fn a_node_started_alone_without_a_secret_refuses_a_second_member() {
    if std::env::var(SECRET_ENV).is_ok() {
        return;
    }
    let rt = runtime(L2Args::default(), "n1");
    let have = parse_members("n1=192.0.2.1").unwrap();
    let new = parse_members("n1=192.0.2.1,n2=192.0.2.2").unwrap();
    let e = rt.check_change(&have, &new).unwrap_err();
    assert!(e.contains("the membership secret is required"), "{e}");
}

#[test]
fn a_list_moving_this_nodes_address_or_dropping_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(secret_args(&dir), "n1");
    let have = parse_members("n1=192.0.2.1,n2=192.0.2.2").unwrap();
    let moved = parse_members("n1=192.0.2.9,n2=192.0.2.2").unwrap();
    let e = rt.check_change(&have, &moved).unwrap_err();
    assert!(e.contains("from 192.0.2.1:7946 to 192.0.2.9:7946"), "{e}");
    let without = parse_members("n2=192.0.2.2").unwrap();
    let e = rt.check_change(&have, &without).unwrap_err();
    assert!(e.contains("\"n1\" is not one of the members (n2)"), "{e}");
}

#[test]
fn members_found_through_the_api_win_over_the_nodes_and_lose_to_the_flag() {
    let config = config(POOLS);
    let mut rt = runtime(L2Args::default(), "n1");
    let from_nodes = rt.members(&config).unwrap();
    assert_eq!(from_nodes.len(), 3, "{from_nodes:?}");
    let found = parse_members("n1=198.51.100.1,n2=198.51.100.2").unwrap();
    rt.set_found_members(Some(Ok(found.clone())));
    assert_eq!(rt.members(&config), Ok(found));
    rt.set_found_members(Some(Err("L2: no running speaker Pod".into())));
    assert_eq!(
        rt.members(&config),
        Err("L2: no running speaker Pod".into())
    );
    let mut flagged = runtime(
        L2Args {
            ml_members: Some("n1=203.0.113.1".into()),
            ..L2Args::default()
        },
        "n1",
    );
    flagged.set_found_members(Some(Ok(parse_members("n1=198.51.100.1").unwrap())));
    assert_eq!(
        flagged.members(&config).unwrap()[0].addr.to_string(),
        "203.0.113.1"
    );
    rt.set_found_members(None);
    assert_eq!(rt.members(&config).unwrap(), from_nodes);
}
