package registry

import (
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The labels Kubernetes gives a Job's pods (and its generated selector).
const (
	JobControllerUIDLabel = batchv1.ControllerUidLabel // batch.kubernetes.io/controller-uid
	JobNameLabel          = batchv1.JobNameLabel       // batch.kubernetes.io/job-name
)

func jobResource() *Resource {
	return &Resource{
		GVR: gvr("batch", "v1", "jobs"), Kind: "Job", ListKind: "JobList", Singular: "job", Namespaced: true,
		Categories: []string{"all"}, Subresources: []string{"status"},
		New: func() runtime.Object { return &batchv1.Job{} }, NewList: func() runtime.Object { return &batchv1.JobList{} },
		PrepareForCreate: func(obj runtime.Object) {
			j := obj.(*batchv1.Job)
			j.Status = batchv1.JobStatus{}
			// As kube-apiserver: unless manualSelector, the selector is the
			// Job's own UID, and the template carries it.
			if j.Spec.ManualSelector == nil || !*j.Spec.ManualSelector {
				uid := string(j.UID)
				if j.Spec.Template.Labels == nil {
					j.Spec.Template.Labels = map[string]string{}
				}
				for k, v := range map[string]string{JobControllerUIDLabel: uid, "controller-uid": uid, JobNameLabel: j.Name, "job-name": j.Name} {
					j.Spec.Template.Labels[k] = v
				}
				j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{JobControllerUIDLabel: uid}}
			}
		},
		Default: func(obj runtime.Object) {
			j := obj.(*batchv1.Job)
			one, six := int32(1), int32(6)
			if j.Spec.Completions == nil && j.Spec.Parallelism == nil {
				j.Spec.Completions = &one
			}
			if j.Spec.Parallelism == nil {
				j.Spec.Parallelism = &one
			}
			if j.Spec.BackoffLimit == nil {
				j.Spec.BackoffLimit = &six
			}
			if j.Spec.CompletionMode == nil {
				m := batchv1.NonIndexedCompletion
				j.Spec.CompletionMode = &m
			}
			if j.Spec.Suspend == nil {
				f := false
				j.Spec.Suspend = &f
			}
			if j.Spec.PodReplacementPolicy == nil {
				p := batchv1.TerminatingOrFailed
				j.Spec.PodReplacementPolicy = &p
			}
			DefaultPodSpec(&j.Spec.Template.Spec)
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return ValidateJobSpec(&obj.(*batchv1.Job).Spec, field.NewPath("spec"))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			n, o := obj.(*batchv1.Job), old.(*batchv1.Job)
			errs := ValidateJobSpec(&n.Spec, field.NewPath("spec"))
			errs = append(errs, apivalidation.ValidateImmutableField(n.Spec.Selector, o.Spec.Selector, field.NewPath("spec", "selector"))...)
			errs = append(errs, apivalidation.ValidateImmutableField(n.Spec.Completions, o.Spec.Completions, field.NewPath("spec", "completions"))...)
			return errs
		},
		Table: jobTable,
	}
}

// ValidateJobSpec checks what Kubernetes checks of a Job's spec.
func ValidateJobSpec(s *batchv1.JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Selector == nil {
		errs = append(errs, field.Required(p.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
	}
	return append(errs, validateJobSpecBody(s, p)...)
}

// validateJobSpecBody is what a Job and a CronJob's Job template share (a
// template's selector is generated with each Job).
func validateJobSpecBody(s *batchv1.JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	nonNegative := func(v *int32, name string) {
		if v != nil && *v < 0 {
			errs = append(errs, field.Invalid(p.Child(name), *v, "must be greater than or equal to 0"))
		}
	}
	nonNegative(s.Parallelism, "parallelism")
	nonNegative(s.Completions, "completions")
	nonNegative(s.BackoffLimit, "backoffLimit")
	if s.ActiveDeadlineSeconds != nil && *s.ActiveDeadlineSeconds <= 0 {
		errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *s.ActiveDeadlineSeconds, "must be greater than 0"))
	}
	if s.TTLSecondsAfterFinished != nil && *s.TTLSecondsAfterFinished < 0 {
		errs = append(errs, field.Invalid(p.Child("ttlSecondsAfterFinished"), *s.TTLSecondsAfterFinished, "must be greater than or equal to 0"))
	}
	switch rp := s.Template.Spec.RestartPolicy; rp {
	case corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure:
	default:
		errs = append(errs, field.NotSupported(p.Child("template", "spec", "restartPolicy"), rp, []string{"OnFailure", "Never"}))
	}
	errs = append(errs, ValidatePodSpec(&s.Template.Spec, p.Child("template", "spec"))...)
	return errs
}

var jobTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Status", "string", "Status of the job.", 0),
		col("Completions", "string", "The desired number of successfully finished pods the job should be run with.", 0),
		col("Duration", "string", "Time required to complete the job.", 0), ageCol,
		col("Containers", "string", "Names of each container in the template.", 1),
		col("Images", "string", "Images referenced by each container in the template.", 1),
		col("Selector", "string", "Query over pods that should match the pod count.", 1)},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		j := obj.(*batchv1.Job)
		completions := "n/a"
		if j.Spec.Completions != nil {
			completions = strconv.Itoa(int(j.Status.Succeeded)) + "/" + strconv.Itoa(int(*j.Spec.Completions))
		}
		status := "Running"
		for _, c := range j.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case batchv1.JobComplete:
				status = "Complete"
			case batchv1.JobFailed:
				status = "Failed"
			case batchv1.JobSuspended:
				status = "Suspended"
			}
		}
		dur := ""
		if j.Status.StartTime != nil {
			end := now
			if j.Status.CompletionTime != nil {
				end = j.Status.CompletionTime.Time
			}
			dur = duration.HumanDuration(end.Sub(j.Status.StartTime.Time))
		}
		var names, images []string
		for _, c := range j.Spec.Template.Spec.Containers {
			names, images = append(names, c.Name), append(images, c.Image)
		}
		sel := ""
		if j.Spec.Selector != nil {
			if s, err := metav1.LabelSelectorAsSelector(j.Spec.Selector); err == nil {
				sel = s.String()
			}
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, status, completions, dur, age, strings.Join(names, ","), strings.Join(images, ","), sel}
	},
}
