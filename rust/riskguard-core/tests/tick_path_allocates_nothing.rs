//! The tick path allocates nothing unless it reports an event (DESIGN.md, performance policy).
//! A counting global allocator makes that checkable; it lives in its own test binary so that it
//! counts nothing else.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use riskguard_core::engine::{Limits, RiskEngine, SymbolRef};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn quiet_ticks_allocate_nothing_whatever_the_book() {
    for positions in [1usize, 100, 1000] {
        let mut e = RiskEngine::new(Limits::default(), 1e12, 0).unwrap();
        let mut out = Vec::new();
        for i in 0..positions {
            let name = format!("S{i}");
            let side = if i % 2 == 0 { 1.0 } else { -1.0 };
            e.on_fill(SymbolRef::Name(&name), side * 10.0, 100.0, 0, 0.0, &mut out)
                .unwrap();
            if i % 3 == 0 {
                e.set_stop(SymbolRef::Name(&name), Some(100.0 - 5.0 * side))
                    .unwrap();
            }
        }
        let n = 50_000;
        let ids: Vec<u32> = (0..n).map(|k| (k * 7919 % positions) as u32).collect();
        let prices: Vec<f64> = (0..n)
            .map(|k| 100.0 + ((k * 31 % 17) as f64 - 8.0) * 0.01)
            .collect();
        let ts: Vec<i64> = (1..=n as i64).map(|k| k * 1_000_000).collect();
        out.clear();
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        e.on_ticks(&ids, &prices, &ts, &mut out).unwrap();
        for k in 0..1000 {
            e.on_tick(SymbolRef::Id(ids[k]), prices[k], ts[n - 1], &mut out)
                .unwrap();
        }
        let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
        assert!(
            out.is_empty(),
            "the stream should be quiet: {:?}",
            &out[..1]
        );
        assert_eq!(allocated, 0, "{positions} positions");
    }
}
