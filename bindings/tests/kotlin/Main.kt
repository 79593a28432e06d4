// A small JVM program on the generated Kotlin bindings, run by bindings/tests/foreign.rs:
// opens a store, signs in, records attempts, syncs with a real server, prints what it did.
//
// Usage: Main <server url> <token> <store path> <attempts>

import org.doorstep.AttemptInput
import org.doorstep.Phone
import org.doorstep.PhoneException
import org.doorstep.SyncEvent
import org.doorstep.SyncProgress

class Printer : SyncProgress {
    var rounds = 0
    override fun onEvent(event: SyncEvent) {
        if (event is SyncEvent.Received) rounds += 1
    }
}

fun main(args: Array<String>) {
    val (server, token, path, count) = args
    val phone = Phone.open(path)
    val signedIn = phone.signIn(server, token, null)
    println("signed in as ${signedIn.user} (${signedIn.role})")
    val turf = phone.turfs().first()
    val doors = phone.walkList(turf.id)
    repeat(count.toInt()) { n ->
        val door = doors[n % doors.size]
        val voter = door.voters.firstOrNull()
        val id = if (voter != null) {
            phone.recordAttempt(AttemptInput(turf = turf.id, outcome = "talked", voter = voter.id))
        } else {
            phone.recordAttempt(AttemptInput(turf = turf.id, outcome = "not_home", household = door.id))
        }
        println("attempt $id")
    }
    println("unsynced before sync: ${phone.unsyncedCount()}")
    val progress = Printer()
    val summary = phone.syncNow(progress)
    println("unsynced after sync: ${summary.unsynced} in ${progress.rounds} round(s)")
    try {
        phone.walkList("no-such-turf")
    } catch (e: PhoneException.NotFound) {
        println("not found: ${e.message}")
    }
    phone.close()
}
