package registry

import (
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/robfig/cron/v3"
)

// MaxCronJobNameLength leaves room for the suffix of the Jobs it names.
const MaxCronJobNameLength = 52

func cronJobResource() *Resource {
	return &Resource{
		GVR: gvr("batch", "v1", "cronjobs"), Kind: "CronJob", ListKind: "CronJobList", Singular: "cronjob", Namespaced: true,
		ShortNames: []string{"cj"}, Categories: []string{"all"}, Subresources: []string{"status"},
		New:     func() runtime.Object { return &batchv1.CronJob{} },
		NewList: func() runtime.Object { return &batchv1.CronJobList{} },
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*batchv1.CronJob).Status = batchv1.CronJobStatus{}
		},
		Default: func(obj runtime.Object) {
			c := obj.(*batchv1.CronJob)
			if c.Spec.ConcurrencyPolicy == "" {
				c.Spec.ConcurrencyPolicy = batchv1.AllowConcurrent
			}
			if c.Spec.Suspend == nil {
				f := false
				c.Spec.Suspend = &f
			}
			if c.Spec.SuccessfulJobsHistoryLimit == nil {
				three := int32(3)
				c.Spec.SuccessfulJobsHistoryLimit = &three
			}
			if c.Spec.FailedJobsHistoryLimit == nil {
				one := int32(1)
				c.Spec.FailedJobsHistoryLimit = &one
			}
			DefaultPodSpec(&c.Spec.JobTemplate.Spec.Template.Spec)
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			c := obj.(*batchv1.CronJob)
			var errs field.ErrorList
			if len(c.Name) > MaxCronJobNameLength {
				errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), c.Name, "must be no more than 52 characters"))
			}
			return append(errs, ValidateCronJobSpec(&c.Spec, field.NewPath("spec"))...)
		},
		Table: cronJobTable,
	}
}

// ValidateCronJobSpec checks the schedule (standard cron, or @hourly and
// the like), the time zone, the concurrency policy, the limits and the Job
// template.
func ValidateCronJobSpec(s *batchv1.CronJobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case s.Schedule == "":
		errs = append(errs, field.Required(p.Child("schedule"), ""))
	case strings.Contains(s.Schedule, "TZ"):
		errs = append(errs, field.Invalid(p.Child("schedule"), s.Schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	default:
		if _, err := cron.ParseStandard(s.Schedule); err != nil {
			errs = append(errs, field.Invalid(p.Child("schedule"), s.Schedule, err.Error()))
		}
	}
	if tz := s.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil || *tz == "" || strings.EqualFold(*tz, "local") {
			errs = append(errs, field.Invalid(p.Child("timeZone"), *tz, "unknown time zone "+*tz))
		}
	}
	switch s.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	default:
		errs = append(errs, field.NotSupported(p.Child("concurrencyPolicy"), s.ConcurrencyPolicy, []string{"Allow", "Forbid", "Replace"}))
	}
	for name, v := range map[string]*int32{"successfulJobsHistoryLimit": s.SuccessfulJobsHistoryLimit, "failedJobsHistoryLimit": s.FailedJobsHistoryLimit} {
		if v != nil && *v < 0 {
			errs = append(errs, field.Invalid(p.Child(name), *v, "must be greater than or equal to 0"))
		}
	}
	if s.StartingDeadlineSeconds != nil && *s.StartingDeadlineSeconds < 0 {
		errs = append(errs, field.Invalid(p.Child("startingDeadlineSeconds"), *s.StartingDeadlineSeconds, "must be greater than or equal to 0"))
	}
	return append(errs, validateJobSpecBody(&s.JobTemplate.Spec, p.Child("jobTemplate", "spec"))...)
}

var cronJobTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.", 0),
		col("Timezone", "string", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.", 0),
		col("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.", 0),
		col("Active", "integer", "A list of pointers to currently running jobs.", 0),
		col("Last Schedule", "string", "Information when was the last time the job was successfully scheduled.", 0),
		ageCol,
		col("Containers", "string", "Names of each container in the template.", 1),
		col("Images", "string", "Images referenced by each container in the template.", 1),
		col("Selector", "string", "Query over pods that should match the pod count.", 1)},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		c := obj.(*batchv1.CronJob)
		tz := "<none>"
		if c.Spec.TimeZone != nil {
			tz = *c.Spec.TimeZone
		}
		last := "<none>"
		if c.Status.LastScheduleTime != nil {
			last = Age(*c.Status.LastScheduleTime, now)
		}
		suspend := "<unset>" // as Kubernetes prints a *bool
		if c.Spec.Suspend != nil {
			suspend = map[bool]string{true: "True", false: "False"}[*c.Spec.Suspend]
		}
		cs, is := containersImages(c.Spec.JobTemplate.Spec.Template.Spec.Containers)
		name, age := nameAge(obj, now)
		return []interface{}{name, c.Spec.Schedule, tz, suspend, int64(len(c.Status.Active)), last, age, cs, is,
			selectorString(c.Spec.JobTemplate.Spec.Selector)}
	},
}
