module stillgo.bench/workloads

go 1.22
