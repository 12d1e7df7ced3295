// Reads Kubernetes objects (JSON: one object, an array, or a List; a file or stdin) and prints, one
// JSON line per object, what three GitOps tools make of it:
//   - kstatus: status.Compute from sigs.k8s.io/cli-utils/pkg/kstatus/status, what Flux's and
//     kpt's waits use for a custom resource without health expressions;
//   - flux: the healthCheckExprs entry for the object's apiVersion and kind in a Flux
//     Kustomization (--flux-kustomization), evaluated as Flux's runtime/cel StatusEvaluator does;
//   - argo: the resource.customizations.health.<group>_<Kind> Lua script of an argocd-cm
//     ConfigMap (--argo-configmap), run with gopher-lua as Argo CD runs it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type verdict struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

type result struct {
	Name    string   `json:"name"`
	Kstatus verdict  `json:"kstatus"`
	Flux    *verdict `json:"flux,omitempty"`
	Argo    *verdict `json:"argo,omitempty"`
}

func main() {
	fluxFile := flag.String("flux-kustomization", "", "a Flux Kustomization (YAML) whose spec.healthCheckExprs are evaluated")
	argoFile := flag.String("argo-configmap", "", "an argocd-cm ConfigMap (YAML) whose health Lua scripts are run")
	flag.Parse()

	var in io.Reader = os.Stdin
	if flag.NArg() > 0 {
		f, err := os.Open(flag.Arg(0))
		fail(err)
		defer f.Close()
		in = f
	}
	raw, err := io.ReadAll(in)
	fail(err)
	objects, err := decodeObjects(raw)
	fail(err)

	var flux []healthCheckExprs
	if *fluxFile != "" {
		flux, err = readKustomization(*fluxFile)
		fail(err)
	}
	var argo map[string]string
	if *argoFile != "" {
		argo, err = readConfigMap(*argoFile)
		fail(err)
	}

	out := json.NewEncoder(os.Stdout)
	for _, obj := range objects {
		u := &unstructured.Unstructured{Object: obj}
		r := result{Name: u.GetName()}
		if res, err := status.Compute(u); err != nil {
			r.Kstatus = verdict{Error: err.Error()}
		} else {
			r.Kstatus = verdict{Status: res.Status.String(), Message: res.Message}
		}
		if *fluxFile != "" {
			r.Flux = fluxStatus(flux, u)
		}
		if *argoFile != "" {
			r.Argo = argoHealth(argo, u)
		}
		fail(out.Encode(r))
	}
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

// Numbers are decoded as unstructured objects hold them: int64 when whole, else float64.
func decodeObjects(raw []byte) ([]map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	var items []any
	if len(raw) > 0 && raw[0] == '[' {
		if err := utiljson.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
	} else {
		var obj map[string]any
		if err := utiljson.Unmarshal(raw, &obj); err != nil {
			return nil, err
		}
		listed, isList := obj["items"].([]any)
		if !isList || !strings.HasSuffix(fmt.Sprint(obj["kind"]), "List") {
			return []map[string]any{obj}, nil
		}
		items = listed
	}
	objects := make([]map[string]any, 0, len(items))
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("an item is not an object")
		}
		objects = append(objects, m)
	}
	return objects, nil
}

type healthCheckExprs struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Current    string `json:"current"`
	InProgress string `json:"inProgress"`
	Failed     string `json:"failed"`
}

func readKustomization(path string) ([]healthCheckExprs, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k struct {
		Kind string `json:"kind"`
		Spec struct {
			HealthCheckExprs []healthCheckExprs `json:"healthCheckExprs"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, err
	}
	if k.Kind != "Kustomization" || len(k.Spec.HealthCheckExprs) == 0 {
		return nil, fmt.Errorf("%s: not a Kustomization with spec.healthCheckExprs", path)
	}
	return k.Spec.HealthCheckExprs, nil
}

// The environment of Flux's runtime/cel NewExpression: parsed, not compiled, since custom
// resources are not typed; the object's top-level fields are the variables.
func celProgram(expr string) (cel.Program, error) {
	env, err := cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Sets(),
		ext.Encoders(),
	)
	if err != nil {
		return nil, err
	}
	ast, issues := env.Parse(expr)
	if issues != nil && issues.Err() != nil {
		return nil, fmt.Errorf("parsing %q: %w", expr, issues.Err())
	}
	return env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(100))
}

// Flux's StatusEvaluator.Evaluate: an unobserved generation is InProgress; then inProgress,
// failed and current in that order, the first true one wins; none true is InProgress.
func fluxStatus(all []healthCheckExprs, u *unstructured.Unstructured) *verdict {
	var exprs *healthCheckExprs
	for i := range all {
		if all[i].APIVersion == u.GetAPIVersion() && all[i].Kind == u.GetKind() {
			exprs = &all[i]
		}
	}
	if exprs == nil {
		return &verdict{Error: "no healthCheckExprs for " + u.GetAPIVersion() + "/" + u.GetKind()}
	}
	if exprs.Current == "" {
		return &verdict{Error: "expression current not specified"}
	}
	obj := u.UnstructuredContent()
	if observed, ok, _ := unstructured.NestedInt64(obj, "status", "observedGeneration"); ok {
		if generation, ok, _ := unstructured.NestedInt64(obj, "metadata", "generation"); ok && generation != observed {
			return &verdict{Status: status.InProgressStatus.String(), Message: "generation not observed"}
		}
	}
	for _, e := range []struct {
		expr   string
		status status.Status
	}{{exprs.InProgress, status.InProgressStatus}, {exprs.Failed, status.FailedStatus}, {exprs.Current, status.CurrentStatus}} {
		if e.expr == "" {
			continue
		}
		prog, err := celProgram(e.expr)
		if err != nil {
			return &verdict{Error: err.Error()}
		}
		val, _, err := prog.ContextEval(context.Background(), obj)
		if err != nil {
			return &verdict{Error: fmt.Sprintf("evaluating %q: %v", e.expr, err)}
		}
		b, ok := val.(types.Bool)
		if !ok {
			return &verdict{Error: fmt.Sprintf("%q is not a boolean", e.expr)}
		}
		if b {
			return &verdict{Status: e.status.String()}
		}
	}
	return &verdict{Status: status.InProgressStatus.String()}
}

func readConfigMap(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cm struct {
		Kind string            `json:"kind"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(data, &cm); err != nil {
		return nil, err
	}
	if cm.Kind != "ConfigMap" {
		return nil, fmt.Errorf("%s: not a ConfigMap", path)
	}
	return cm.Data, nil
}

// Argo CD's key for a health script: resource.customizations.health.<group>_<Kind>.
func argoKey(u *unstructured.Unstructured) string {
	gv := u.GetAPIVersion()
	group := ""
	if i := strings.Index(gv, "/"); i >= 0 {
		group = gv[:i]
	}
	return "resource.customizations.health." + group + "_" + u.GetKind()
}

// As Argo CD's lua.VM.ExecuteHealthLua: the object as the global `obj`, the script's return value
// a table with status and message.
func argoHealth(data map[string]string, u *unstructured.Unstructured) *verdict {
	script, ok := data[argoKey(u)]
	if !ok {
		return &verdict{Error: "no " + argoKey(u) + " in the ConfigMap"}
	}
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, u.Object))
	if err := L.DoString(script); err != nil {
		return &verdict{Error: err.Error()}
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return &verdict{Error: "the health script did not return a table"}
	}
	return &verdict{Status: lua.LVAsString(ret.RawGetString("status")), Message: lua.LVAsString(ret.RawGetString("message"))}
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	default:
		return lua.LString(fmt.Sprint(x))
	}
}
