package server

import (
	"reflect"

	"github.com/qunhq/qun/api"
)

// apiCordoned reports whether the API's view of node n says it takes no
// new work (api.Node.Cordoned, set by qun node cordon and drain), which the
// metrics report as Slurm's drain. It reads the field by name so that the
// metrics follow the API as it is: a tree without node cordon reads every
// node as not cordoned. Once api.Node.Cordoned is everywhere this is
// n.Cordoned.
func apiCordoned(n *api.Node) bool {
	f := reflect.ValueOf(n).Elem().FieldByName("Cordoned")
	return f.IsValid() && f.Kind() == reflect.Bool && f.Bool()
}
