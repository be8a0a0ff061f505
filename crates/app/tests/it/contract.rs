//! The repository contract suite against the in-memory fakes.

planpush_app::contract_tests!(async { (planpush_app::fake::ports(), ()) });
