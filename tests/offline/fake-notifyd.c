// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A stand-in for a desktop's notification server on a private session
 * bus: owns org.freedesktop.Notifications, answers Notify with a new id
 * and prints "SUMMARY\tBODY" for each, one line, flushed. Prints "ready"
 * once the name is owned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>

static int notify(sd_bus_message *m, void *data, sd_bus_error *err)
{
	static uint32_t id;
	const char *app, *icon, *summary, *body;
	uint32_t replaces;
	int r;

	r = sd_bus_message_read(m, "susss", &app, &replaces, &icon, &summary,
				&body);
	if (r < 0)
		return r;
	printf("%s\t%s\n", summary, body);
	fflush(stdout);
	return sd_bus_reply_method_return(m, "u", ++id);
}

static const sd_bus_vtable vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("Notify", "susssasa{sv}i", "u", notify,
		      SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END,
};

int main(void)
{
	sd_bus *bus = NULL;
	int r;

	r = sd_bus_open_user(&bus);
	if (r < 0) {
		fprintf(stderr, "fake-notifyd: no session bus: %d\n", r);
		return 1;
	}
	r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/Notifications",
				     "org.freedesktop.Notifications", vtable, NULL);
	if (r >= 0)
		r = sd_bus_request_name(bus, "org.freedesktop.Notifications", 0);
	if (r < 0) {
		fprintf(stderr, "fake-notifyd: %d\n", r);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return 1;
		if (r == 0 && sd_bus_wait(bus, (uint64_t)-1) < 0)
			return 1;
	}
}
