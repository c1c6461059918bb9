/* The names of the fetched views (views.h): "all" and the statuses. */
#include "views.h"

const char *const view_names[VIEW_COUNT] = {"all", "pending", "processing", "completed",
                                            "failed", "cancelled"};
