//! A fault schedule drawn from a seed: the same seed gives the same faults, in the same
//! order, with the same parameters and durations, so a failing run is replayed by its seed
//! (`GEOREP_FAULT_SEED`). Timing inside the system (elections, packet jitter) is not pinned,
//! so a replay runs the same scenario, not the same interleaving.
//!
//! Every schedule stops the leader and restarts it, isolates one region and heals it, in an
//! order and with noise (lossy or slow links, calm spells) chosen by the seed. At most one
//! region is out at a time, so a majority always remains.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Stop the node that leads the group under test.
    StopLeader,
    /// Start the stopped node again on its data dir.
    RestartStopped,
    /// Cut this region off from both others.
    Isolate(usize),
    /// Undo every partition and link condition.
    Heal,
    /// Drop this share of packets both ways between two regions.
    Lossy { a: usize, b: usize, loss: f64 },
    /// Add this one-way delay both ways between two regions.
    Slow { a: usize, b: usize, delay_ms: u64 },
    /// Change nothing.
    Calm,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub fault: Fault,
    /// How long to run under it before the next step.
    pub hold: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub seed: u64,
    pub steps: Vec<Step>,
}

/// xorshift64*: small, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

impl Schedule {
    pub fn from_seed(seed: u64, regions: usize) -> Schedule {
        let mut rng = Rng::new(seed);
        let mut steps = Vec::new();
        let noise = |rng: &mut Rng, steps: &mut Vec<Step>| {
            for _ in 0..rng.below(2) + 1 {
                let a = rng.below(regions as u64) as usize;
                let b = (a + 1 + rng.below(regions as u64 - 1) as usize) % regions;
                let fault = match rng.below(3) {
                    0 => Fault::Lossy {
                        a,
                        b,
                        loss: (rng.below(20) + 5) as f64 / 100.0,
                    },
                    1 => Fault::Slow {
                        a,
                        b,
                        delay_ms: rng.below(60) + 10,
                    },
                    _ => Fault::Calm,
                };
                steps.push(Step {
                    fault,
                    hold: Duration::from_millis(rng.below(700) + 300),
                });
            }
        };
        let isolated = rng.below(regions as u64) as usize;
        let stop_first = rng.below(2) == 0;
        let hold = |rng: &mut Rng| Duration::from_millis(rng.below(1500) + 1500);
        let stop = [
            Step {
                fault: Fault::StopLeader,
                hold: hold(&mut rng),
            },
            Step {
                fault: Fault::RestartStopped,
                hold: hold(&mut rng),
            },
        ];
        let cut = [
            Step {
                fault: Fault::Isolate(isolated),
                hold: hold(&mut rng),
            },
            Step {
                fault: Fault::Heal,
                hold: hold(&mut rng),
            },
        ];
        let (first, second) = if stop_first { (stop, cut) } else { (cut, stop) };
        for pair in [first, second] {
            noise(&mut rng, &mut steps);
            let [out, back] = pair;
            steps.push(out);
            noise(&mut rng, &mut steps);
            steps.push(back);
        }
        steps.push(Step {
            fault: Fault::Heal,
            hold: Duration::from_millis(500),
        });
        Schedule { seed, steps }
    }

    /// The seed from `GEOREP_FAULT_SEED` (decimal or 0x-hex), else `pinned`.
    pub fn seed_from_env(pinned: u64) -> u64 {
        match std::env::var("GEOREP_FAULT_SEED") {
            Ok(s) => {
                let s = s.trim();
                match s.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => s.parse(),
                }
                .unwrap_or_else(|e| panic!("GEOREP_FAULT_SEED={s:?}: {e}"))
            }
            Err(_) => pinned,
        }
    }
}
