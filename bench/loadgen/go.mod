module distpos/bench/loadgen

go 1.22
