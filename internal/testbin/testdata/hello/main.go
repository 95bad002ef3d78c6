// Command hello prints hello; testbin's tests build and run it.
package main

import "fmt"

func main() { fmt.Println("hello") }
