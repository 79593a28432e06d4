//! Several servers on one PostgreSQL database: the storage suite every backend passes, then
//! real `doorstep serve` processes sharing a throwaway cluster.

use doorstep_server::storage::PgStorage;
use doorstep_server::storage::conformance;
use doorstep_tests::postgres::Cluster;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn postgres_passes_the_storage_suite() {
    let cluster = Cluster::start();
    let n = AtomicUsize::new(0);
    conformance::check_all(|| {
        let url = cluster.database(&format!("s{}", n.fetch_add(1, Ordering::Relaxed)));
        PgStorage::connect(&url).unwrap()
    });
}
