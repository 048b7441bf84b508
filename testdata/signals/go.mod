module signals

go 1.22
