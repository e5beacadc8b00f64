"""What several solvers share, each piece once: the pattern operators, data scaling, proximal maps and
cone projections, the dual bound's scaling, the iteration log, option checks, BLAS thread control and the
allocator setting of a solve."""
