module frozen

go 1.22
