//! Shared by the benches that report model FLOPs.

/// Multiply-adds of one window counted as 2 FLOPs: GRU steps (3 gates, input and hidden
/// matrices) over `T_e + T_d` steps, plus the decoder's linear readout.
pub fn flops_per_window(n: usize, c: usize, t_e: usize, t_d: usize) -> f64 {
    let gru = 2.0 * 3.0 * (n * c + n * n) as f64;
    (t_e + t_d) as f64 * gru + t_d as f64 * 2.0 * (n * c) as f64
}
