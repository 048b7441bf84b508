module exits

go 1.22
