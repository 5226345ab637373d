"""One way to show times everywhere in the admin and the ops console: 24-hour, with seconds
(retries are seconds apart), the zone named. ``FORMAT_MODULE_PATH`` points here."""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
