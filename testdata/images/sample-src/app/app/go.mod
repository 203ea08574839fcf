module example.com/sample/app

go 1.21

require (
	golang.org/x/net v0.0.0-20210226172049-e18ecbb05110
	golang.org/x/text v0.3.5
)
