// Command etcd is etcd itself, at the version svcnet embeds (3.7), for the
// benchmarks that need a cluster of members (bench/controllers
// -etcd-members 3): the same flags as the etcd binary.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
