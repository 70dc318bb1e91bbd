//! Prints the registrar's memory footprint: its inline size and the heap it
//! holds while idle (measured by a counting allocator).

use posemesh_registration_core::{Output, Registrar};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    const N: usize = 10_000;
    let before = LIVE.load(Ordering::Relaxed);
    let mut fleet: Vec<Registrar> = Vec::with_capacity(N);
    let vec_bytes = LIVE.load(Ordering::Relaxed) - before;
    for seed in 0..N as u64 {
        let mut registrar = posemesh_registration_benches::registrar(seed);
        while !matches!(registrar.poll_output(), Output::Wait(_)) {}
        fleet.push(registrar);
    }
    let heap = (LIVE.load(Ordering::Relaxed) - before - vec_bytes) as f64 / N as f64;
    let inline = std::mem::size_of::<Registrar>();
    println!("registrar size: {inline} bytes inline + {heap:.0} bytes of heap (idle, legacy flow) = {:.0} bytes", inline as f64 + heap);
    drop(fleet);
}
