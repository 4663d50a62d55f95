// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A desktop notification through org.freedesktop.Notifications on the
 * session bus, when there is one: a manager started outside a desktop
 * session (a test, a server) has none, and says nothing there.
 */
#include <systemd/sd-bus.h>

#include "offline.h"

void co_notify_desktop(const char *summary, const char *body)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	sd_bus *bus = NULL;

	if (sd_bus_open_user(&bus) < 0)
		return;
	/* a notification server that does not answer must not stall us */
	sd_bus_set_method_call_timeout(bus, 2 * 1000000);
	if (sd_bus_call_method(bus, "org.freedesktop.Notifications",
			       "/org/freedesktop/Notifications",
			       "org.freedesktop.Notifications", "Notify",
			       &err, &reply, "susssasa{sv}i", "cachectl", 0,
			       "network-offline", summary, body, 0, 0, -1) < 0 &&
	    !sd_bus_error_has_name(&err, SD_BUS_ERROR_SERVICE_UNKNOWN))
		co_log("desktop notification: %s", err.message ? err.message : "failed");
	sd_bus_error_free(&err);
	sd_bus_message_unref(reply);
	sd_bus_flush_close_unref(bus);
}
