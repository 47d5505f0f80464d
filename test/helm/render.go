// Renders a Helm chart the way `helm template` does, with Go's text/template
// and sprig (Debian's golang packages), for the chart tests: no helm binary
// can be installed here. It implements what faultline's chart uses: values
// files merged over values.yaml, .Release, .Chart, .Files.Get, .Template,
// include, tpl, required, toYaml, fromYaml, and Helm's "<no value>" rule.
// Output: JSON, every rendered manifest document (parsed as YAML) by source
// template, and NOTES.txt.
//
// Usage: render CHART_DIR RELEASE NAMESPACE [VALUES.yaml ...]
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

// Files is .Files: the chart's files (outside templates/) by path.
type Files map[string][]byte

// Get returns a file's contents, or "" when there is no such file.
func (f Files) Get(name string) string { return string(f[name]) }

type manifest struct {
	Source    string        `json:"source"`
	Documents []interface{} `json:"documents"`
}

type output struct {
	Values    interface{} `json:"values"` // values.yaml with the values files merged over it
	Manifests []manifest  `json:"manifests"`
	Notes     string     `json:"notes"`
}

func fatal(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "render: "+format+"\n", args...)
	os.Exit(1)
}

func readYAML(path string) map[string]interface{} {
	data, err := os.ReadFile(path)
	if err != nil {
		fatal("%v", err)
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		fatal("%s: %v", path, err)
	}
	return out
}

// merge puts src over dst as Helm does: maps merge key by key, anything else replaces, null deletes.
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func fromYAML(s string) map[string]interface{} {
	out := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &out); err != nil {
		out["Error"] = err.Error()
	}
	return out
}

// jsonable turns YAML's map[interface{}]interface{} (if any) into JSON-encodable maps.
func jsonable(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[interface{}]interface{}:
		m := map[string]interface{}{}
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []interface{}:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	}
	return v
}

func main() {
	if len(os.Args) < 4 {
		fatal("usage: render CHART_DIR RELEASE NAMESPACE [VALUES.yaml ...]")
	}
	chartDir, release, namespace := os.Args[1], os.Args[2], os.Args[3]
	chartMeta := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	values := readYAML(filepath.Join(chartDir, "values.yaml"))
	for _, f := range os.Args[4:] {
		values = merge(values, readYAML(f))
	}
	chart := map[string]interface{}{}
	for k, v := range chartMeta {
		chart[strings.ToUpper(k[:1])+k[1:]] = v // .Chart.Name, .Chart.AppVersion, ...
	}
	chartName := fmt.Sprint(chartMeta["name"])

	files := Files{}
	var templates []string
	err := filepath.Walk(chartDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, path)
		if strings.HasPrefix(rel, "templates/") {
			templates = append(templates, rel)
			return nil
		}
		data, err := os.ReadFile(path)
		files[rel] = data
		return err
	})
	if err != nil {
		fatal("%v", err)
	}
	sort.Strings(templates)

	root := template.New(chartName)
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env") // Helm removes these: a chart must not read the renderer's environment
	delete(funcs, "expandenv")
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	funcs["lookup"] = func(...interface{}) map[string]interface{} { return map[string]interface{}{} }
	root.Funcs(funcs).Option("missingkey=zero")
	for _, rel := range templates {
		data, err := os.ReadFile(filepath.Join(chartDir, rel))
		if err != nil {
			fatal("%v", err)
		}
		if _, err := root.New(chartName + "/" + rel).Parse(string(data)); err != nil {
			fatal("%v", err)
		}
	}

	out := output{Values: jsonable(values), Manifests: []manifest{}}
	for _, rel := range templates {
		base := filepath.Base(rel)
		if strings.HasPrefix(base, "_") {
			continue
		}
		name := chartName + "/" + rel
		top := map[string]interface{}{
			"Values":  values,
			"Chart":   chart,
			"Files":   files,
			"Release": map[string]interface{}{"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
			"Capabilities": map[string]interface{}{
				"KubeVersion": map[string]interface{}{"Version": "v1.30.0", "Major": "1", "Minor": "30", "GitVersion": "v1.30.0"},
			},
			"Template": map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, top); err != nil {
			fatal("%v", err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			out.Notes = text
			continue
		}
		m := manifest{Source: name, Documents: []interface{}{}}
		dec := yaml.NewDecoder(strings.NewReader(text))
		for {
			var doc interface{}
			if err := dec.Decode(&doc); err != nil {
				if err.Error() == "EOF" {
					break
				}
				fatal("%s does not render to YAML: %v\n%s", name, err, text)
			}
			if doc != nil {
				m.Documents = append(m.Documents, jsonable(doc))
			}
		}
		out.Manifests = append(out.Manifests, m)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fatal("%v", err)
	}
}
